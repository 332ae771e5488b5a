#include "spm_split_points.h"

#include <algorithm>
#include <climits>

#include "errors.h"

namespace stagebeam {

namespace {

// The character segmentation of llama.cpp's SPM session (unicode_len_utf8): the length comes from the
// lead byte alone, so a cut made on these boundaries is a boundary of the session's symbols too.
size_t CharLength(unsigned char lead) {
    static const size_t lengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lengths[lead >> 4];
}

constexpr uint32_t kPrefixChar = 0xE29681;  // "▁", U+2581, which llama.cpp writes for every space

// A character as its (up to 4) bytes in one number; a space is the same character as "▁".
uint32_t CharKey(const char * p, size_t n) {
    uint32_t key = 0;
    for (size_t i = 0; i < n; ++i) key = (key << 8) | static_cast<unsigned char>(p[i]);
    return key == ' ' ? kPrefixChar : key;
}

bool IsSpace(uint32_t key) {
    return key == kPrefixChar || key == '\t' || key == '\n' || key == '\r' || key == '\v' || key == '\f';
}

uint64_t PairKey(uint32_t a, uint32_t b) { return (static_cast<uint64_t>(a) << 32) | b; }

std::vector<uint32_t> Chars(const std::string & text) {
    std::vector<uint32_t> out;
    for (size_t i = 0; i < text.size();) {
        const size_t n = std::min(CharLength(static_cast<unsigned char>(text[i])), text.size() - i);
        out.push_back(CharKey(text.data() + i, n));
        i += n;
    }
    return out;
}

std::vector<llama_token> TokenizeOnce(const llama_vocab * vocab, const char * text, size_t size, bool add_special, bool parse_special) {
    if (size > static_cast<size_t>(INT32_MAX / 2)) throw NativeError("INVALID_ARGUMENT", "text is too long to tokenize");
    std::vector<llama_token> tokens(size + 8);
    int32_t n = llama_tokenize(vocab, text, static_cast<int32_t>(size), tokens.data(), static_cast<int32_t>(tokens.size()), add_special, parse_special);
    if (n == INT32_MIN) throw NativeError("INVALID_ARGUMENT", "text is too long to tokenize");
    if (n < 0) {
        tokens.resize(static_cast<size_t>(-static_cast<int64_t>(n)));
        n = llama_tokenize(vocab, text, static_cast<int32_t>(size), tokens.data(), static_cast<int32_t>(tokens.size()), add_special, parse_special);
        if (n < 0) throw NativeError("INTERNAL", "tokenization failed");
    }
    tokens.resize(static_cast<size_t>(n));
    return tokens;
}

}  // namespace

SpmSplitPoints::SpmSplitPoints(const llama_vocab * vocab, bool add_space_prefix) : add_space_prefix_(add_space_prefix) {
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    std::vector<llama_token> lone_prefix;
    llama_token byte_tokens[3] = {LLAMA_TOKEN_NULL, LLAMA_TOKEN_NULL, LLAMA_TOKEN_NULL};
    int lone_prefix_count = 0;
    for (llama_token id = 0; id < n_vocab; ++id) {
        const char * raw = llama_vocab_get_text(vocab, id);
        if (raw == nullptr || *raw == '\0') continue;
        const std::string text(raw);
        const std::vector<uint32_t> chars = Chars(text);
        for (size_t i = 1; i < chars.size(); ++i) pairs_.insert(PairKey(chars[i - 1], chars[i]));
        if (chars.size() >= 2 && chars[0] == kPrefixChar) after_prefix_.insert(chars[1]);
        const llama_token_attr attr = llama_vocab_get_attr(vocab, id);
        if (attr & LLAMA_TOKEN_ATTR_USER_DEFINED) {
            special_first_.insert(chars.front());
            special_last_.insert(chars.back());
        } else if (attr & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_UNKNOWN)) {
            control_first_.insert(chars.front());
            control_last_.insert(chars.back());
        }
        // How the tokenizer spells a lone "▁" (SPM's resegment): the token of that text, else its bytes.
        if (text == "\xE2\x96\x81") {
            lone_prefix_count += 1;
            lone_prefix = {id};
        }
        if (text == "<0xE2>") byte_tokens[0] = id;
        if (text == "<0x96>") byte_tokens[1] = id;
        if (text == "<0x81>") byte_tokens[2] = id;
    }
    if (!add_space_prefix_) return;
    if (lone_prefix_count == 1) {
        prefix_tokens_ = lone_prefix;
    } else if (lone_prefix_count == 0 && byte_tokens[0] != LLAMA_TOKEN_NULL && byte_tokens[1] != LLAMA_TOKEN_NULL && byte_tokens[2] != LLAMA_TOKEN_NULL) {
        prefix_tokens_ = {byte_tokens[0], byte_tokens[1], byte_tokens[2]};
    } else {
        usable_ = false;  // two tokens spell "▁", or none and no byte tokens: which one we would strip is unknown
    }
}

bool SpmSplitPoints::CanCut(uint32_t before, uint32_t after, bool parse_special) const {
    if (IsSpace(before) || IsSpace(after)) return false;
    if (pairs_.count(PairKey(before, after)) != 0) return false;
    if (add_space_prefix_ && after_prefix_.count(after) != 0) return false;
    if (special_last_.count(before) != 0 || special_first_.count(after) != 0) return false;
    if (parse_special && (control_last_.count(before) != 0 || control_first_.count(after) != 0)) return false;
    return true;
}

std::vector<llama_token> TokenizeInPieces(const llama_vocab * vocab, const SpmSplitPoints * split, const std::string & text, bool add_special,
                                          bool parse_special, size_t piece_bytes) {
    piece_bytes = std::max<size_t>(1, piece_bytes);
    // An end-of-sequence token added by the first call would land mid-text; such vocabularies take one call.
    const bool eos_added = add_special && llama_vocab_get_add_eos(vocab);
    if (split == nullptr || !split->usable() || eos_added || text.size() <= 2 * piece_bytes) {
        return TokenizeOnce(vocab, text.data(), text.size(), add_special, parse_special);
    }
    const std::vector<llama_token> & prefix = split->PrefixTokens();
    std::vector<llama_token> out;
    out.reserve(text.size() / 2 + 8);
    size_t piece_start = 0;
    auto tokenize_piece = [&](size_t end) {
        const bool first = piece_start == 0;
        std::vector<llama_token> piece = TokenizeOnce(vocab, text.data() + piece_start, end - piece_start, first && add_special, parse_special);
        size_t skip = 0;
        if (!first) {
            // The piece's added space prefix, alone by the cut's conditions: anything else is a bug here.
            if (piece.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), piece.begin())) return false;
            skip = prefix.size();
        }
        out.insert(out.end(), piece.begin() + static_cast<std::ptrdiff_t>(skip), piece.end());
        piece_start = end;
        return true;
    };
    // A piece that does not start with the lone prefix contradicts the cut's conditions: should that ever
    // happen, the whole text goes through one call (slow, but the tokens are right).
    auto whole = [&] { return TokenizeOnce(vocab, text.data(), text.size(), add_special, parse_special); };
    uint32_t before = 0;
    for (size_t at = 0; at < text.size();) {
        const size_t n = std::min(CharLength(static_cast<unsigned char>(text[at])), text.size() - at);
        const uint32_t here = CharKey(text.data() + at, n);
        // Leave at least a piece's length for the last piece, so that no piece is tiny.
        if (at - piece_start >= piece_bytes && text.size() - at >= piece_bytes && split->CanCut(before, here, parse_special) &&
            !tokenize_piece(at)) {
            return whole();
        }
        before = here;
        at += n;
    }
    if (!tokenize_piece(text.size())) return whole();
    return out;
}

}  // namespace stagebeam
