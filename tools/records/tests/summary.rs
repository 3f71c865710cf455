//! The summary record through its type: a report and a comparison keep their shapes, what this
//! build does not know is kept, and `null` numbers and percentile keys read as the writer meant.

use sb_records::summary::{self, Percentiles, ServerValue, Summary};
use sb_records::{Record, RecordReader, RecordWriter};

fn read(line: &str) -> Summary {
    match RecordReader::new("t.ndjson", line.as_bytes()).next_record().unwrap().unwrap() {
        Record::Summary(s) => s,
        other => panic!("not a summary: {other:?}"),
    }
}

fn write(s: &Summary) -> String {
    let mut out = Vec::new();
    RecordWriter::new(&mut out).write(s).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_report_reads_back_field_for_field_and_writes_the_same_line() {
    let line = concat!(
        r#"{"kind":"summary","v":1,"definitions":"docs/metrics.md","inputs":["a.ndjson"],"#,
        r#""runs":[{"run":"r1","results":2,"shards":["0/2","1/2"]}],"trustworthy":true,"warnings":[],"#,
        r#""warmup_excluded":1,"completed":2,"failed":0,"failure_rate":0.0,"duration_s":1.5,"#,
        r#""total_input_tokens":20,"total_output_tokens":8,"request_throughput":1.333333333,"#,
        r#""output_throughput":5.333333333,"total_token_throughput":18.666666667,"#,
        r#""max_output_tokens_per_s":6.0,"max_concurrent_requests":2,"#,
        r#""ttft_ms":{"count":2,"mean":10.5,"median":10.5,"std":0.5,"min":10.0,"max":11.0,"p99.9":10.999,"p5":10.05,"exact":true},"#,
        r#""tpot_ms":{"count":0,"mean":0.0,"median":0.0,"std":0.0,"min":0.0,"max":0.0,"exact":true},"#,
        r#""itl_ms":{"count":0,"mean":0.0,"median":0.0,"std":0.0,"min":0.0,"max":0.0,"exact":true},"#,
        r#""e2el_ms":{"count":0,"mean":0.0,"median":0.0,"std":0.0,"min":0.0,"max":0.0,"exact":true},"#,
        r#""ntpot_ms":{"count":0,"mean":0.0,"median":0.0,"std":0.0,"min":0.0,"max":0.0,"exact":true},"#,
        r#""ttft_text_ms":{"count":0,"mean":0.0,"median":0.0,"std":0.0,"min":0.0,"max":0.0,"exact":true},"#,
        r#""client_queue_ms":{"count":0,"mean":0.0,"median":0.0,"std":0.0,"min":0.0,"max":0.0,"exact":true},"#,
        r#""e2el_from_scheduled_ms":{"count":0,"mean":0.0,"median":0.0,"std":0.0,"min":0.0,"max":0.0,"exact":true},"#,
        r#""failures":{"timeout":{"count":1,"examples":["read timed out"]}},"#,
        r#""output_len_missing":0,"input_len_missing":0,"token_count_mismatches":0,"#,
        r#""load":{"run_records":1,"target_rate":2.0,"achieved_rate":null,"send_lateness_p50_ms":null,"#,
        r#""send_lateness_p99_ms":null,"send_lateness_max_ms":null,"max_concurrency":null,"burstiness":1.0,"problems":[],"notes":[]},"#,
        r#""server_metrics":[{"metric":"vllm:e2e_request_latency_seconds","labels":"","type":"histogram","count":2.0,"sum":3.0,"mean":1.5,"#,
        r#""p50":null,"p50_bucket":{"gt":null,"le":1.0,"exact":false},"p99":2.5,"p99_bucket":{"gt":2.0,"le":null,"exact":false}}],"#,
        r#""group_by":"tags.point","groups":[],"a_later_field":{"x":1}}"#,
        "\n"
    );
    let s = read(line);
    let Summary::Report(r) = &s else { panic!("a report read as {s:?}") };
    assert_eq!(r.runs[0].shards, ["0/2", "1/2"]);
    assert_eq!(r.totals.completed, 2);
    let ttft = r.totals.metric("ttft_ms").unwrap();
    assert_eq!(ttft.percentiles, Percentiles(vec![(99.9, 10.999), (5.0, 10.05)]), "in the writer's order");
    assert_eq!(
        (ttft.get("p99.9"), ttft.get("p5"), ttft.get("p99"), ttft.get("mean")),
        (Some(10.999), Some(10.05), None, Some(10.5))
    );
    assert_eq!(r.totals.failures["timeout"].examples, ["read timed out"]);
    assert_eq!((r.load.target_rate, r.load.achieved_rate), (Some(2.0), None));
    let ServerValue::Histogram { p50, p50_bucket, p99_bucket, .. } = &r.server_metrics[0].value else {
        panic!("{:?}", r.server_metrics[0])
    };
    assert!(p50.is_nan(), "null reads as NaN");
    assert_eq!((p50_bucket.gt, p50_bucket.le, p99_bucket.le), (None, 1.0, f64::INFINITY));
    assert_eq!(r.groups.as_deref(), Some(&[][..]), "an empty group list is kept apart from none");
    assert_eq!(r.extra["a_later_field"]["x"], 1, "a field this build does not know is kept");
    assert!(!r.extra.contains_key("kind") && !r.extra.contains_key("v"), "the envelope is not data");
    assert_eq!(write(&s), line, "written again, the line is the same");
}

#[test]
fn a_comparison_keeps_its_shape() {
    let line = concat!(
        r#"{"kind":"summary","v":1,"compare":{"a":"a.ndjson","b":"vllm.json"},"#,
        r#""metrics":[{"metric":"ttft_ms.p99","a":99.6,"b":99.6,"change":0.0,"change_pct":0.0},"#,
        r#"{"metric":"request_goodput","a":0.0,"b":1.0,"change":1.0,"change_pct":null}],"#,
        r#""a":{"completed":3},"b":{"model_id":"Qwen/Qwen3-0.6B"}}"#,
        "\n"
    );
    let s = read(line);
    let Summary::Comparison(c) = &s else { panic!("a comparison read as {s:?}") };
    assert_eq!((c.compare.a.as_str(), c.compare.b.as_str()), ("a.ndjson", "vllm.json"));
    assert_eq!(c.metrics[1].change_pct, None);
    assert_eq!(c.b["model_id"], "Qwen/Qwen3-0.6B");
    assert_eq!(write(&s), line);
}

#[test]
fn another_writers_summary_reads_with_defaults_not_an_error() {
    let s = read("{\"kind\":\"summary\",\"v\":1,\"completed\":7,\"ttft_ms\":{\"mean\":null}}\n");
    let Summary::Report(r) = s else { panic!() };
    assert_eq!(r.totals.completed, 7);
    assert!(r.totals.ttft_ms.mean.is_nan());
    assert_eq!(r.totals.ttft_ms.count, 0);
    assert_eq!(r.load, summary::Load::default());
}

#[test]
fn a_summary_of_the_wrong_shape_is_an_error_naming_the_field() {
    let err =
        |line: &str| RecordReader::new("t.ndjson", line.as_bytes()).next_record().unwrap().unwrap_err().to_string();
    let e = err("{\"kind\":\"summary\",\"v\":1,\"compare\":{\"a\":\"x\",\"b\":\"y\"},\"a\":{},\"b\":{}}\n");
    assert!(e.starts_with("t.ndjson:1: ") && e.contains("metrics"), "{e}");
    let e = err("{\"kind\":\"summary\",\"v\":1,\"completed\":\"three\"}\n");
    assert!(e.contains("invalid type") && e.contains("three"), "{e}");
}
