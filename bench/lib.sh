# Sourced by bench/load.sh and bench/truth.sh: the sb-load, sb-sim and load_bench they measure.
# Without BIN, builds them (release) and uses target/release; BIN=dir takes prebuilt ones
# (load_bench in dir, or in dir/examples as cargo puts it); LB=path names load_bench itself.
if [[ -z "${BIN:-}" ]]; then
    cargo build --release -p sb-load -p sb-sim --bins --example load_bench >&2
    BIN=target/release
fi
if [[ -z "${LB:-}" ]]; then
    LB=$BIN/load_bench
    [[ -x $LB ]] || LB=$BIN/examples/load_bench
fi
