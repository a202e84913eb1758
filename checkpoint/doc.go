// Package checkpoint saves and loads named float32 tensors in the
// safetensors format, writes files atomically, and keeps JSON configs
// beside the weights.
//
// # Format
//
// The safetensors format (https://github.com/huggingface/safetensors) is:
//
//	8 bytes        N, the header size, unsigned little-endian
//	N bytes        a JSON object: for each tensor
//	               "name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}
//	               and optionally "__metadata__": {string: string}
//	               (padded with spaces to a multiple of 8 bytes)
//	the rest       the tensors' bytes, little-endian; offsets are relative to
//	               the start of this part
//
// Files written here load in Python with safetensors.torch.load_file, and
// files written by Python load here (a test reads one made by the
// committed script testdata/gen_safetensors.py).
//
// Values are stored as F32, or to halve a file, as F16 or BF16 (SaveAs,
// WriteAs; see DType): rounded to nearest, ties to even, and converted
// back to float32 exactly on load. Loading takes any of the three.
// Quantized weights (qkv quantize) are stored as I8 tensor by tensor
// (SaveMixed), and only LoadQuantized reads them.
//
// # Why not a library
//
// github.com/nlpodyssey/safetensors (the Go port) was evaluated and not
// used: it parses only a whole file held in one []byte (no io.ReaderAt, so
// a model is read into memory twice), its validation errors do not name
// the tensor at fault for truncation or size mismatches ("metadata
// incomplete buffer", "info data offsets mismatch"), writing needs a
// map of View wrappers (so the order of tensors is lost and every float32
// slice must first be copied to bytes), it pulls testify into go.sum, and
// it has an empty README and few commits since 2023. The format is small
// enough that a careful reader (~300 lines) that checks every field, and
// names the tensor in every error, costs less than wrapping it.
//
// # What is checked on load
//
// The header size is bounded (100 MB, as in the reference implementation,
// and never more than the file) before anything is allocated; the header
// must be one JSON object with no duplicate names; every tensor needs a
// dtype, a shape and two offsets; offsets must lie inside the data, agree
// with dtype × shape, and tile the data exactly (no overlap, no gap, no
// trailing bytes). Load then requires every parameter to be present with
// the same shape and dtype F32 and, by default, no tensor the caller did
// not ask for. Every value read (by Load, LoadSubset and ReadAll, so by
// predict, eval, --resume and average alike) must be finite: a NaN or an
// infinity is an error that names the tensor and counts the bad values,
// checked as each chunk is converted, so it costs no extra pass. Every
// error names the file and, where one is at fault, the tensor. No
// parameter is modified unless the whole header checks out (a bad value
// found while reading the data may leave parameters partly filled).
//
// # Atomic writes
//
// WriteFileAtomic writes to a temporary file in the target's directory,
// fsyncs it, renames it over the target and fsyncs the directory, so after
// a crash the target holds either the old or the new content, never a mix;
// if the writer fails the temporary file is removed and the target left
// untouched. Save, SaveJSON and any other writer of checkpoints, configs,
// vocabularies or trainer state should go through it.
package checkpoint
