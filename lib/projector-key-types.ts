// The GGUF value type of every projector key libmtmd reads with a scalar getter. Its clip loader reads
// them with gguf_get_val_u32/_i32/_f32/_bool/_str, which check the stored type only by GGML_ASSERT: a key
// stored as another type (a hand edit, a foreign converter, the fuzz harness's seed-4 gguf #375 overwriting
// one value type) aborts the process while the projector loads. (Array keys are read through getters that
// check their type and throw, so they need nothing here.)
//
// From tools/mtmd/clip.cpp (get_u32, get_i32, get_f32, get_bool, get_string) and the key names in
// tools/mtmd/clip-impl.h at the pinned commit; test/projector-key-types.test.ts reads both files and
// fails when a pin bump adds a key this table lacks. "%s" stands for the modality prefix clip.cpp
// formats into the name ("vision", "audio", "gen.audio").
import { GgufType } from "./gguf/types.js";

const u32 = GgufType.UINT32;

export const PROJECTOR_KEY_TYPES: Readonly<Record<string, GgufType>> = {
  "clip.has_vision_encoder": GgufType.BOOL,
  "clip.has_audio_encoder": GgufType.BOOL,
  "clip.has_gen_audio_encoder": GgufType.BOOL,
  "clip.use_gelu": GgufType.BOOL,
  "clip.use_silu": GgufType.BOOL,
  "clip.%s.attention.layer_norm_epsilon": GgufType.FLOAT32,
  "clip.minicpmv_version": GgufType.INT32,
  "general.name": GgufType.STRING,
  "general.description": GgufType.STRING,
  "clip.projector_type": GgufType.STRING,
  "clip.vision.projector_type": GgufType.STRING,
  "clip.audio.projector_type": GgufType.STRING,
  "clip.gen.audio.projector_type": GgufType.STRING,
  "clip.gen.audio.model_variant": GgufType.STRING,
  "clip.vision.mm_patch_merge_type": GgufType.STRING,
  "clip.%s.embedding_length": u32,
  "clip.%s.attention.head_dim": u32,
  "clip.%s.feed_forward_length": u32,
  "clip.%s.attention.head_count": u32,
  "clip.%s.attention.head_count_kv": u32,
  "clip.%s.block_count": u32,
  "clip.%s.projection_dim": u32,
  "clip.minicpmv_query_num": u32,
  "clip.vision.image_size": u32,
  "clip.vision.patch_size": u32,
  "clip.vision.image_min_pixels": u32,
  "clip.vision.image_max_pixels": u32,
  "clip.vision.preproc_image_size": u32,
  "clip.vision.preproc_min_tiles": u32,
  "clip.vision.preproc_max_tiles": u32,
  "clip.vision.projector.scale_factor": u32,
  "clip.vision.projector.query_side": u32,
  "clip.vision.projector.window_side": u32,
  "clip.vision.spatial_merge_size": u32,
  "clip.vision.window_size": u32,
  "clip.vision.n_wa_pattern": u32,
  "clip.vision.expert_used_count": u32,
  "clip.vision.sam.block_count": u32,
  "clip.vision.sam.embedding_length": u32,
  "clip.vision.sam.head_count": u32,
  "clip.audio.num_mel_bins": u32,
  "clip.audio.subsampling_factor": u32,
  "clip.audio.window_size": u32,
  "clip.audio.chunk_size": u32,
  "clip.audio.conv_kernel_size": u32,
  "clip.audio.local_block_count": u32,
  "clip.audio.local_group_size": u32,
  "clip.audio.max_pos_emb": u32,
  "clip.audio.projector.downsample_rate": u32,
  "clip.audio.projector.head_count": u32,
  "clip.audio.projector.stack_factor": u32,
  "clip.audio.projector.window_size": u32,
  "clip.audio.rvq.num_quantizers": u32,
};

/** The modality prefixes clip.cpp formats into "%s" keys. */
export const PROJECTOR_KEY_PREFIXES = ["vision", "audio", "gen.audio"] as const;

/** Each concrete key name libmtmd may read, with the one GGUF type its getter accepts. */
export function projectorKeyTypes(): Map<string, GgufType> {
  const out = new Map<string, GgufType>();
  for (const [pattern, type] of Object.entries(PROJECTOR_KEY_TYPES)) {
    if (pattern.includes("%s")) for (const prefix of PROJECTOR_KEY_PREFIXES) out.set(pattern.replace("%s", prefix), type);
    else out.set(pattern, type);
  }
  return out;
}
