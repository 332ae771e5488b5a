// Where each structure of a GGUF file lies, byte by byte: the fuzz harness truncates at these boundaries
// and overwrites these fields. Read independently of lib/gguf/reader.ts so a reader bug cannot hide a case.
const SCALAR_BYTES = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/**
 * Fields of the file: { kind, at, bytes } with kind one of magic, version, tensorCount, kvCount, keyLength,
 * key, valueType, value, stringLength, arrayType, arrayCount, tensorNameLength, tensorName, nDims, dim,
 * tensorType, tensorOffset, padding, data; plus `tensors` (name, at of its info) and `dataOffset`.
 */
export function ggufLayout(bytes) {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields = [];
  let at = 0;
  const field = (kind, size, extra = {}) => {
    fields.push({ kind, at, bytes: size, ...extra });
    at += size;
  };
  const u64 = (o) => Number(b.readBigUInt64LE(o));
  field("magic", 4);
  field("version", 4);
  const nTensors = u64(at);
  field("tensorCount", 8);
  const nKv = u64(at);
  field("kvCount", 8);
  const keys = [];
  let alignment = 32;
  const str = (lengthKind, bodyKind, extra) => {
    const n = u64(at);
    field(lengthKind, 8, extra);
    const text = b.toString("utf8", at, at + n);
    field(bodyKind, n, extra);
    return text;
  };
  for (let i = 0; i < nKv; i++) {
    const key = str("keyLength", "key", { index: i });
    keys.push(key);
    const type = b.readUInt32LE(at);
    field("valueType", 4, { key });
    if (type === 8) str("stringLength", "value", { key });
    else if (type === 9) {
      const itemType = b.readUInt32LE(at);
      field("arrayType", 4, { key });
      const count = u64(at);
      field("arrayCount", 8, { key });
      if (itemType === 8) {
        // Vocabularies hold tens of thousands of strings: record the first few and skip the rest.
        for (let k = 0; k < count; k++) {
          if (k < 8) str("stringLength", "value", { key });
          else at += 8 + u64(at);
        }
      } else field("value", SCALAR_BYTES[itemType] * count, { key });
    } else {
      if (key === "general.alignment") alignment = b.readUInt32LE(at);
      field("value", SCALAR_BYTES[type], { key });
    }
  }
  const tensors = [];
  for (let i = 0; i < nTensors; i++) {
    const infoAt = at;
    const name = str("tensorNameLength", "tensorName", { index: i });
    const nDims = b.readUInt32LE(at);
    field("nDims", 4, { tensor: name });
    const dims = [];
    for (let d = 0; d < nDims; d++) {
      dims.push(u64(at));
      field("dim", 8, { tensor: name, d });
    }
    field("tensorType", 4, { tensor: name });
    const offset = u64(at);
    field("tensorOffset", 8, { tensor: name });
    tensors.push({ name, infoAt, dims, offset });
  }
  const dataOffset = Math.ceil(at / alignment) * alignment;
  if (dataOffset > at) field("padding", dataOffset - at);
  for (const t of tensors) fields.push({ kind: "data", at: dataOffset + t.offset, bytes: 0, tensor: t.name });
  return { fields, tensors, keys, dataOffset, size: b.length };
}
