#!/usr/bin/env python3
"""Builds the small dataset files of sb-sample's tests in each dataset's real Hub schema, from
the real rows copied beside this script (see README.md). Run from this directory in a venv with
pyarrow (`pip install pyarrow`); the outputs are committed, tests never run this script.

Every file is deterministic (no timestamps, fixed row choice), so a rebuild changes nothing
unless this script changes.
"""
import gzip
import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(path, table):
    import os
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # snappy is what the Hub's parquet files use (pyarrow's default).
    pq.write_table(table, path, compression="snappy")


def mmlu():
    """cais/mmlu `all/{test,dev}-00000-of-00001.parquet`: question, subject, choices, answer."""
    import csv

    def rows(path, subject, limit=None):
        with open(path, newline="") as f:
            r = csv.reader(f)
            next(r)  # derived CSV header
            out = []
            for cells in r:
                out.append({"question": cells[0], "subject": subject, "choices": cells[1:5], "answer": int(cells[5])})
                if limit and len(out) == limit:
                    break
            return out

    schema = pa.schema([("question", pa.string()), ("subject", pa.string()),
                        ("choices", pa.list_(pa.string())), ("answer", pa.int64())])
    subjects = ["abstract_algebra", "high_school_computer_science"]
    test = sum((rows(f"mmlu/derived_csv/test/{s}_test.csv", s, 20) for s in subjects), [])
    dev = sum((rows(f"mmlu/derived_csv/dev/{s}_dev.csv", s) for s in subjects), [])
    write_parquet("mmlu/hub/all/test-00000-of-00001.parquet", pa.Table.from_pylist(test, schema))
    write_parquet("mmlu/hub/all/dev-00000-of-00001.parquet", pa.Table.from_pylist(dev, schema))


def humaneval():
    """openai/openai_humaneval `openai_humaneval/test-00000-of-00001.parquet` (5 string columns)."""
    with gzip.open("humaneval/HumanEval.jsonl.gz", "rt") as f:
        rows = [json.loads(l) for l in f][:40]
    cols = ["task_id", "prompt", "canonical_solution", "test", "entry_point"]
    schema = pa.schema([(c, pa.string()) for c in cols])
    write_parquet("humaneval/hub/openai_humaneval/test-00000-of-00001.parquet",
                  pa.Table.from_pylist([{c: r[c] for c in cols} for r in rows], schema))


ALPACA_WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                     "Write a response that appropriately completes the request.\n\n"
                     "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n{output}")
ALPACA_NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
                   "### Instruction:\n{instruction}\n\n### Response:\n{output}")


def alpaca():
    """tatsu-lab/alpaca `data/train-00000-of-00001-a09b74b3ef9c3b56.parquet`:
    instruction, input, output, text (text rendered with the Alpaca template)."""
    rows = json.load(open("alpaca/alpaca_data.first200.json"))[:100]
    for r in rows:
        r["text"] = (ALPACA_WITH_INPUT if r["input"] else ALPACA_NO_INPUT).format(**r)
    schema = pa.schema([(c, pa.string()) for c in ["instruction", "input", "output", "text"]])
    write_parquet("alpaca/hub/data/train-00000-of-00001-a09b74b3ef9c3b56.parquet", pa.Table.from_pylist(rows, schema))


def natural_questions():
    """google-research-datasets/natural_questions `dev/validation-00000-of-00007.parquet`, the
    full nested schema (HF Sequence-of-dict = struct of lists), questions and short answers from
    NQ-open (the documents are empty: the real ones are whole Wikipedia pages)."""
    src = [json.loads(l) for l in open("natural_questions/NQ-open.dev.first300.jsonl")][:30]
    tokens_t = pa.struct([("token", pa.list_(pa.string())), ("is_html", pa.list_(pa.bool_())),
                          ("start_byte", pa.list_(pa.int64())), ("end_byte", pa.list_(pa.int64()))])
    doc_t = pa.struct([("html", pa.string()), ("title", pa.string()), ("url", pa.string()), ("tokens", tokens_t)])
    q_t = pa.struct([("text", pa.string()), ("tokens", pa.list_(pa.string()))])
    cand_t = pa.struct([(k, pa.list_(pa.int64())) for k in ["start_token", "end_token", "start_byte", "end_byte"]]
                       + [("top_level", pa.list_(pa.bool_()))])
    la_t = pa.struct([(k, pa.int64()) for k in ["candidate_index", "start_token", "end_token", "start_byte", "end_byte"]])
    sa_t = pa.struct([(k, pa.list_(pa.int64())) for k in ["start_token", "end_token", "start_byte", "end_byte"]]
                     + [("text", pa.list_(pa.string()))])
    ann_t = pa.struct([("id", pa.list_(pa.string())), ("long_answer", pa.list_(la_t)),
                       ("short_answers", pa.list_(sa_t)), ("yes_no_answer", pa.list_(pa.int64()))])
    schema = pa.schema([("id", pa.string()), ("document", doc_t), ("question", q_t),
                        ("long_answer_candidates", cand_t), ("annotations", ann_t)])
    rows = []
    for i, r in enumerate(src):
        n = len(r["answer"])
        rows.append({
            "id": str(1000 + i),
            "document": {"html": "", "title": "", "url": "", "tokens": {"token": [], "is_html": [], "start_byte": [], "end_byte": []}},
            "question": {"text": r["question"], "tokens": r["question"].split()},
            "long_answer_candidates": {"start_token": [], "end_token": [], "start_byte": [], "end_byte": [], "top_level": []},
            "annotations": {
                "id": [str(i)],
                "long_answer": [{"candidate_index": -1, "start_token": -1, "end_token": -1, "start_byte": -1, "end_byte": -1}],
                "short_answers": [{"start_token": [0] * n, "end_token": [0] * n, "start_byte": [0] * n, "end_byte": [0] * n, "text": r["answer"]}],
                "yes_no_answer": [-1],
            },
        })
    write_parquet("natural_questions/hub/dev/validation-00000-of-00007.parquet", pa.Table.from_pylist(rows, schema))


def qmsum_cleaned():
    """pszemraj/qmsum-cleaned `data/test-00000-of-00001.parquet`: id, pid, input (query, then the
    transcript), output, input_token_count, output_token_count; built from the original QMSum
    rows, two queries per meeting. Token counts are whitespace words (the real column's
    tokenizer is not documented)."""
    rows = []
    for m, line in enumerate(open("qmsum/test.first3.jsonl")):
        meeting = json.loads(line)
        transcript = "\n".join(f"{t['speaker']}: {t['content']}" for t in meeting["meeting_transcripts"])
        queries = (meeting["general_query_list"] + meeting["specific_query_list"])[:2]
        for q, item in enumerate(queries):
            text = item["query"] + "\n" + transcript
            rows.append({"id": f"test-{m}-{q}", "pid": f"test-{m}", "input": text, "output": item["answer"],
                         "input_token_count": len(text.split()), "output_token_count": len(item["answer"].split())})
    schema = pa.schema([("id", pa.string()), ("pid", pa.string()), ("input", pa.string()), ("output", pa.string()),
                        ("input_token_count", pa.int64()), ("output_token_count", pa.int64())])
    write_parquet("qmsum/hub/data/test-00000-of-00001.parquet", pa.Table.from_pylist(rows, schema))


def openchat():
    """openchat/openchat_sharegpt4_dataset `sharegpt_gpt4.json`: a JSON array (indent "\\t") of
    ShareGPT pages with the turns under "items" and "model": "Model: GPT-4". Built from the first
    40 FastChat conversations, re-keyed; not real OpenChat content."""
    src = json.load(open("sharegpt/dummy_conversation.json"))[:40]
    pages = [{"items": c["conversations"], "model": "Model: GPT-4", "id": c["id"], "views": 0, "hash": [i, i]}
             for i, c in enumerate(src)]
    import os
    os.makedirs("openchat/hub", exist_ok=True)
    with open("openchat/hub/sharegpt_gpt4.json", "w") as f:
        json.dump(pages, f, indent="\t")


def longbench():
    """zai-org/LongBench `data.zip` with `data/<task>.jsonl` rows in LongBench's standardized
    format (input, context, answers, length, dataset, language, all_classes, _id). No real
    LongBench row was obtainable: contexts are real QMSum transcripts (qmsum task; query and
    reference answer from QMSum) and real LooGLE documents (multifieldqa_en; question and answer
    from LooGLE shortdep_qa), trimmed to 6,000 characters. Two questions share each context, as
    LongBench's contexts sometimes do."""
    import ast
    buf = {}
    qm = []
    for m, line in enumerate(open("qmsum/test.first3.jsonl")):
        meeting = json.loads(line)
        ctx = "\n".join(f"{t['speaker']}: {t['content']}" for t in meeting["meeting_transcripts"])[:6000]
        for q, item in enumerate(meeting["specific_query_list"][:2]):
            qm.append({"input": item["query"], "context": ctx, "answers": [item["answer"]], "length": len(ctx.split()),
                       "dataset": "qmsum", "language": "en", "all_classes": None, "_id": f"qmsum-{m}-{q}"})
    mf = []
    for d, line in enumerate(open("loogle/shortdep_qa.jsonl")):
        if d >= 2:
            break
        doc = json.loads(line)
        ctx = doc["input"][:6000]
        for q, pair in enumerate(ast.literal_eval(doc["qa_pairs"])[:2]):
            mf.append({"input": pair["Q"], "context": ctx, "answers": [pair["A"]], "length": len(ctx.split()),
                       "dataset": "multifieldqa_en", "language": "en", "all_classes": None, "_id": f"mf-{d}-{q}"})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, rows in [("data/qmsum.jsonl", qm), ("data/multifieldqa_en.jsonl", mf)]:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    import os
    os.makedirs("longbench/hub", exist_ok=True)
    open("longbench/hub/data.zip", "wb").write(out.getvalue())


if __name__ == "__main__":
    mmlu()
    humaneval()
    alpaca()
    natural_questions()
    qmsum_cleaned()
    openchat()
    longbench()
