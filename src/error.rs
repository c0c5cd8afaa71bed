//! The one error type of heft. Every message says what went wrong and what to do next;
//! `main` prints it without a backtrace.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// No GPU adapter could be found (or none matched the requested name).
    NoAdapter(String),
    /// The adapter was found but a device could not be created from it.
    Device(String),
    /// An operation got tensors of the wrong shape, dtype or size.
    Shape { op: &'static str, msg: String },
    /// A tensor (or a piece of work) exceeds a device limit and cannot be split; `unit` names
    /// what `size` and `limit` count ("bytes", "workgroups", ...).
    TooLarge { op: &'static str, what: String, size: u64, limit: u64, unit: &'static str },
    /// wgpu reported a validation error.
    Gpu(String),
    /// The GPU ran out of memory or the device was lost (the driver resets it when a kernel
    /// exhausts memory or runs too long).
    OutOfMemory(String),
    /// Anything the user asked for that makes no sense (bad argument values, ...).
    Invalid(String),
    /// File-system errors, with the path involved.
    Io { path: String, err: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape { op, msg: msg.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoAdapter(m) => write!(
                f,
                "no GPU adapter: {m}. On headless Linux install a Vulkan driver \
                 (`apt-get install -y mesa-vulkan-drivers libvulkan1` gives the CPU driver lavapipe); \
                 list adapters with `heft adapters`"
            ),
            Error::Device(m) => write!(f, "could not open the GPU device: {m}"),
            Error::Shape { op, msg } => write!(f, "{op}: {msg}"),
            Error::TooLarge { op, what, size, limit, unit } => write!(
                f,
                "{op}: {what} needs {size} {unit} but the device allows {limit}; \
                 use a smaller batch or input size"
            ),
            Error::Gpu(m) => write!(f, "GPU error: {m}"),
            Error::OutOfMemory(m) => write!(
                f,
                "{m}; the GPU ran out of memory or was reset: lower --batch, --input (the image \
                 size) or --width, or close other programs using the GPU"
            ),
            Error::Invalid(m) => write!(f, "{m}"),
            Error::Io { path, err } if matches!(err.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded) => write!(
                f,
                "{path}: out of disk space ({err}); free some space or write to another folder, then run the \
                 command again (a training run goes on after its last saved epoch)"
            ),
            Error::Io { path, err } => write!(f, "{path}: {err}"),
        }
    }
}

impl std::error::Error for Error {}
