//! Just enough protobuf to write an ONNX model by hand (field numbers of onnx.proto): varints,
//! length-delimited fields, tensors, attributes, value infos, and the graph under construction.

pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn field_int(out: &mut Vec<u8>, field: u32, v: i64) {
    varint(out, (field as u64) << 3);
    varint(out, v as u64);
}

pub(super) fn field_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, ((field as u64) << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(super) fn field_str(out: &mut Vec<u8>, field: u32, s: &str) {
    field_bytes(out, field, s.as_bytes());
}

/// TensorProto: dims = 1, data_type = 2 (FLOAT = 1), name = 8, raw_data = 9.
pub(super) fn tensor(name: &str, dims: &[usize], data: &[f32]) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        field_int(&mut t, 1, d as i64);
    }
    field_int(&mut t, 2, 1);
    field_str(&mut t, 8, name);
    field_bytes(&mut t, 9, bytemuck::cast_slice(data));
    t
}

/// AttributeProto with int list (name = 1, ints = 8, type = 20: INTS = 7) or int (i = 3, INT = 2).
pub(super) fn attr_ints(name: &str, v: &[i64]) -> Vec<u8> {
    let mut a = Vec::new();
    field_str(&mut a, 1, name);
    for &x in v {
        field_int(&mut a, 8, x);
    }
    field_int(&mut a, 20, 7);
    a
}

pub(super) fn attr_int(name: &str, v: i64) -> Vec<u8> {
    let mut a = Vec::new();
    field_str(&mut a, 1, name);
    field_int(&mut a, 3, v);
    field_int(&mut a, 20, 2);
    a
}

/// ValueInfoProto of a float tensor whose first dimension is the symbolic batch "N".
pub(super) fn value_info(name: &str, dims: &[usize]) -> Vec<u8> {
    let mut shape = Vec::new();
    for (i, &d) in dims.iter().enumerate() {
        let mut dim = Vec::new();
        if i == 0 {
            field_str(&mut dim, 2, "N");
        } else {
            field_int(&mut dim, 1, d as i64);
        }
        field_bytes(&mut shape, 1, &dim);
    }
    let mut tt = Vec::new();
    field_int(&mut tt, 1, 1);
    field_bytes(&mut tt, 2, &shape);
    let mut ty = Vec::new();
    field_bytes(&mut ty, 1, &tt);
    let mut vi = Vec::new();
    field_str(&mut vi, 1, name);
    field_bytes(&mut vi, 2, &ty);
    vi
}

/// The graph being built: nodes, initializers, and a counter for fresh value names.
#[derive(Default)]
pub(super) struct Graph {
    pub nodes: Vec<Vec<u8>>,
    pub inits: Vec<Vec<u8>>,
    next: usize,
    /// Operator types used so far, in first-use order.
    pub ops: Vec<String>,
}

impl Graph {
    pub(super) fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}:{}", self.next)
    }

    pub(super) fn init(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.inits.push(tensor(name, dims, data));
        name.to_string()
    }

    /// NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
    pub(super) fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<Vec<u8>>, hint: &str) -> String {
        let out = self.fresh(hint);
        let mut n = Vec::new();
        for i in inputs {
            field_str(&mut n, 1, i);
        }
        field_str(&mut n, 2, &out);
        field_str(&mut n, 3, &out);
        field_str(&mut n, 4, op);
        for a in attrs {
            field_bytes(&mut n, 5, &a);
        }
        self.nodes.push(n);
        if !self.ops.iter().any(|o| o == op) {
            self.ops.push(op.to_string());
        }
        out
    }
}

