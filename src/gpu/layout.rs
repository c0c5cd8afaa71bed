//! Layouts of kernel parameter blocks: each Rust `Params` (declared with `params!`) lists its
//! members' names, types and byte offsets, naga does the same for the shader's `struct Params`
//! (`shaders::params_layout`), and `mismatches` says where the two differ, so a reordered or
//! renamed member fails a test instead of feeding a kernel the wrong value.

use std::mem::size_of;

/// One scalar member of a parameter block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// WGSL name of its type (`u32`, `f32`).
    pub ty: &'static str,
    /// Byte offset from the start of the block.
    pub offset: usize,
}

/// A parameter block's members in order, and its size in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub members: Vec<Member>,
    pub size: usize,
}

/// A Rust type that is, or is part of, a kernel's parameter block.
pub trait Members {
    /// Push the members of a `Self` stored at byte `offset` under the name `name`: a scalar is
    /// one member; a struct pushes its own members, nested ones flattened, since the shaders
    /// declare their parameters flat.
    fn push(name: &'static str, offset: usize, out: &mut Vec<Member>);
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Members for $t {
            fn push(name: &'static str, offset: usize, out: &mut Vec<Member>) {
                out.push(Member { name: name.into(), ty: stringify!($t), offset });
            }
        }
    )*};
}
scalar!(u32, f32);

/// The layout of the Rust parameter block `P`.
pub fn layout<P: Members>() -> Layout {
    let mut members = Vec::new();
    P::push("", 0, &mut members);
    Layout { members, size: size_of::<P>() }
}

/// Declare a `#[repr(C)]` parameter block (or a group of members nested in one) and its
/// `Members`, from the struct's own field names and `offset_of!`.
macro_rules! params {
    ($(#[$attr:meta])* $vis:vis struct $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$attr])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name { $($field: $ty),* }

        impl $crate::gpu::layout::Members for $name {
            fn push(_: &'static str, offset: usize, out: &mut Vec<$crate::gpu::layout::Member>) {
                $(<$ty as $crate::gpu::layout::Members>::push(stringify!($field), offset + std::mem::offset_of!($name, $field), out);)*
            }
        }
    };
}
pub(crate) use params;

/// Where the shader's parameter block `wgsl` and its Rust twin `rust` differ, one line per
/// byte offset whose member (name and type) is not the same on both sides, plus one if the
/// sizes differ; empty when they agree.
pub fn mismatches(wgsl: &Layout, rust: &Layout) -> Vec<String> {
    let mut offsets: Vec<usize> = wgsl.members.iter().chain(&rust.members).map(|m| m.offset).collect();
    offsets.sort_unstable();
    offsets.dedup();
    let at = |l: &Layout, offset| match l.members.iter().find(|m| m.offset == offset) {
        Some(m) => format!("`{}: {}`", m.name, m.ty),
        None => "no member".to_string(),
    };
    let mut out: Vec<String> = offsets
        .into_iter()
        .map(|o| (o, at(wgsl, o), at(rust, o)))
        .filter(|(_, w, r)| w != r)
        .map(|(o, w, r)| format!("byte {o}: the shader has {w}, Rust has {r}"))
        .collect();
    if wgsl.size != rust.size {
        out.push(format!("the shader's Params is {} bytes, Rust's is {}", wgsl.size, rust.size));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::shaders::params_layout;

    const WGSL: &str = "struct Params { n: u32, scale: f32, a: u32, b: u32 }
        @group(0) @binding(0) var<uniform> p: Params;";

    fn shader() -> Layout {
        params_layout(&naga::front::wgsl::parse_str(WGSL).unwrap()).unwrap()
    }

    params! { struct Same { n: u32, scale: f32, a: u32, b: u32 } }
    params! { struct Head { n: u32, scale: f32 } }
    params! { struct Nested { head: Head, a: u32, b: u32 } }

    #[test]
    fn a_twin_with_the_same_members_matches() {
        assert_eq!(mismatches(&shader(), &layout::<Same>()), Vec::<String>::new());
        assert_eq!(mismatches(&shader(), &layout::<Nested>()), Vec::<String>::new(), "nested members are flattened");
    }

    /// The seeded fault of issue #21: two members of the same type swapped keep the size, so
    /// only names at offsets catch it.
    #[test]
    fn a_swap_of_two_same_typed_members_is_reported() {
        params! { struct Swapped { n: u32, scale: f32, b: u32, a: u32 } }
        assert_eq!(
            mismatches(&shader(), &layout::<Swapped>()),
            ["byte 8: the shader has `a: u32`, Rust has `b: u32`", "byte 12: the shader has `b: u32`, Rust has `a: u32`"]
        );
    }

    #[test]
    fn a_wrong_type_and_a_missing_member_are_reported() {
        params! { struct Short { n: f32, scale: f32, a: u32 } }
        assert_eq!(
            mismatches(&shader(), &layout::<Short>()),
            [
                "byte 0: the shader has `n: u32`, Rust has `n: f32`",
                "byte 12: the shader has `b: u32`, Rust has no member",
                "the shader's Params is 16 bytes, Rust's is 12",
            ]
        );
    }
}
