// Where a long text may be cut for a SentencePiece (SPM) vocabulary without changing its tokens.
//
// Why: llama.cpp's SPM tokenizer is quadratic in text that falls back to bytes. For every symbol it
// cannot find in the vocabulary (an emoji, most CJK characters in a Llama 2 vocabulary) it calls
// `output.reserve(output.size() + n)` on the one output vector of the whole call, which reallocates
// and copies everything tokenized so far: 100,000 emoji (400 kB) took 69 s, with the process stuck
// on the JS thread (a fuzz hang). Tokenizing the text in pieces of a few kB keeps each copy small.
//
// A cut between characters c1 and c2 gives exactly the tokens of the whole text when:
//  1. no token of the vocabulary contains c1 followed by c2, so no merge can span the cut (SPM merges
//     adjacent symbols into vocabulary tokens, and each side's merges then run as they would have);
//  2. neither is whitespace, and c1 does not end a token that the special-token pass cuts out first
//     (user-defined tokens, and control tokens when special text is parsed): after such a token the
//     whole text's next fragment gets a space prefix that a cut would lose, and that pass's whitespace
//     stripping must see the same text on both sides;
//  3. with `add_space_prefix` (each llama_tokenize call prefixes its text with a space), the piece's
//     added "▁" stays a symbol of its own, whose tokens (PrefixTokens) are then removed.
// Condition 3 is checked on every piece's tokens (a piece that does not start with PrefixTokens sends
// the whole text through one call); CanCut also refuses c2 that some token starts "▁" c2 with, or that
// starts a special token, only so that this fallback never has to happen.
// Spaces and "▁" count as one character here, since llama.cpp escapes one into the other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "llama.h"

namespace stagebeam {

class SpmSplitPoints {
  public:
    // Scans the vocabulary once (tens of ms at 256k tokens); `add_space_prefix` as the model's metadata says.
    SpmSplitPoints(const llama_vocab * vocab, bool add_space_prefix);

    // Whether a text may be cut between two characters (each its UTF-8 bytes packed into one number,
    // TokenizeInPieces's walk); `parse_special` as the tokenize calls will be made.
    bool CanCut(uint32_t before, uint32_t after, bool parse_special) const;

    // The tokens each piece after the first starts with because of the added space prefix; empty when
    // the vocabulary adds none. Valid only if `usable()`.
    const std::vector<llama_token> & PrefixTokens() const { return prefix_tokens_; }

    // False when the vocabulary has no way to spell a lone "▁" (then nothing is cut).
    bool usable() const { return usable_; }

  private:
    std::unordered_set<uint64_t> pairs_;           // (c1, c2) adjacent in some token's text
    std::unordered_set<uint32_t> after_prefix_;    // c such that some token starts with "▁" c
    std::unordered_set<uint32_t> special_first_;   // first characters of tokens the special pass cuts out...
    std::unordered_set<uint32_t> special_last_;    // ...and their last characters
    std::unordered_set<uint32_t> control_first_;   // the same for control and unknown tokens, which the
    std::unordered_set<uint32_t> control_last_;    // pass cuts out only when special text is parsed
    std::vector<llama_token> prefix_tokens_;
    bool add_space_prefix_;
    bool usable_ = true;
};

// llama_tokenize for any vocabulary, in pieces where SpmSplitPoints allows it and the text is long
// enough to need it; `split` may be null (then one call). Returns the tokens, or throws NativeError.
// piece_bytes: the length a piece aims at (tests pass small values to force many cuts).
std::vector<llama_token> TokenizeInPieces(const llama_vocab * vocab, const SpmSplitPoints * split, const std::string & text, bool add_special,
                                          bool parse_special, size_t piece_bytes);

}  // namespace stagebeam
