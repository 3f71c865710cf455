//! GPU memory as vLLM sees it (`torch.cuda.get_device_properties().total_memory`, which is
//! `cuDeviceTotalMem`: a little less than the MiB that nvidia-smi shows).

/// One GPU type of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Gpu {
    /// Name used with `--gpu`.
    pub key: String,
    pub display: String,
    /// Value of the GPU Feature Discovery label `nvidia.com/gpu.product`, for `--pin-gpu-product`.
    pub product_label: Option<String>,
    /// Total memory per GPU in bytes, as torch reports it.
    pub total_bytes: u64,
    /// Whether `total_bytes` was measured or derived.
    pub source: String,
    /// vLLM's usage-context defaults switch at 70 GiB (and treat A100s as small).
    pub a100: bool,
}

const GIB: f64 = (1u64 << 30) as f64;
const MIB: u64 = 1 << 20;

/// nvidia-smi's MiB minus the ~0.5 GiB that the driver reserves (H100: 481 MiB, H200: 614 MiB measured).
fn from_smi(mib: u64) -> u64 {
    mib * MIB - 512 * MIB
}

pub fn table() -> Vec<Gpu> {
    let g = |key: &str, display: &str, label: Option<&str>, total: u64, source: &str, a100: bool| Gpu {
        key: key.into(),
        display: display.into(),
        product_label: label.map(Into::into),
        total_bytes: total,
        source: source.into(),
        a100,
    };
    vec![
        g(
            "h100-80gb",
            "NVIDIA H100 80GB HBM3",
            Some("NVIDIA-H100-80GB-HBM3"),
            85_017_493_504,
            "measured (torch)",
            false,
        ),
        g("h200", "NVIDIA H200 141GB", Some("NVIDIA-H200"), 150_109_880_320, "measured (cuDeviceTotalMem)", false),
        g(
            "a100-80gb",
            "NVIDIA A100 80GB",
            Some("NVIDIA-A100-SXM4-80GB"),
            from_smi(81_920),
            "nvidia-smi MiB - 0.5 GiB (unverified)",
            true,
        ),
        g(
            "a100-40gb",
            "NVIDIA A100 40GB",
            Some("NVIDIA-A100-SXM4-40GB"),
            from_smi(40_960),
            "nvidia-smi MiB - 0.5 GiB (unverified)",
            true,
        ),
        g(
            "l40s",
            "NVIDIA L40S 48GB",
            Some("NVIDIA-L40S"),
            from_smi(46_068),
            "nvidia-smi MiB - 0.5 GiB (unverified)",
            false,
        ),
        g("l4", "NVIDIA L4 24GB", Some("NVIDIA-L4"), from_smi(23_034), "nvidia-smi MiB - 0.5 GiB (unverified)", false),
        // The I/O study seed's "24 GB limited VRAM" GPUs; 23.6 GiB is docs/deploy.md's assumption.
        g(
            "24gb",
            "24 GB-class GPU (RTX 3090/4090, A10)",
            None,
            (23.6 * GIB) as u64,
            "assumed, as in docs/deploy.md",
            false,
        ),
        g(
            "rtx-3080-10gb",
            "NVIDIA GeForce RTX 3080 10GB",
            Some("NVIDIA-GeForce-RTX-3080"),
            from_smi(10_240),
            "nvidia-smi MiB - 0.5 GiB (unverified)",
            false,
        ),
    ]
}

/// Looks a GPU up by key (case-insensitive).
pub fn find(key: &str) -> Option<Gpu> {
    table().into_iter().find(|g| g.key.eq_ignore_ascii_case(key.trim()))
}

/// A GPU given only by its memory (`--gpu-memory-gib`).
pub fn custom(gib: f64) -> Gpu {
    Gpu {
        key: format!("{gib}gib"),
        display: format!("GPU with {gib} GiB"),
        product_label: None,
        total_bytes: (gib * GIB) as u64,
        source: "--gpu-memory-gib".into(),
        a100: false,
    }
}

pub fn keys() -> String {
    table().iter().map(|g| g.key.clone()).collect::<Vec<_>>().join(", ")
}
