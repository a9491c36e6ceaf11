"""Embedding views: token similarity at every depth, one-hot vs dense, paths, neighbours, analogies."""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from backend import schemas
from backend.analysis.attention import _pca2
from backend.analysis.common import rnd, run_info, token
from backend.service import Run
from models.registry import LoadedModel
from models.tokenizer import Tokenizer


def _similarity(label: str, x: torch.Tensor) -> schemas.SimilarityLayer:
    unit = F.normalize(x.double(), dim=-1)
    return schemas.SimilarityLayer(label=label, cosine=rnd(unit @ unit.T), dot=rnd(x.double() @ x.double().T))


def depths(run: Run) -> list[tuple[str, torch.Tensor]]:
    """(label, [pos, d_model]) for the token embedding, the block input, and after each block."""
    c, cfg = run.cache, run.loaded.cfg
    out = [("token embedding", c["hook_embed"])]
    if "hook_pos_embed" in c or cfg.n_token_types or cfg.embed_norm:
        removed = run.iv.positions == "removed"  # (the encoding is zero then: nothing was added)
        if cfg.n_token_types or cfg.embed_norm:
            # (BERT: the token type is added too, and the sum normalised: not the token embedding even with no position)
            added = ["position"] if "hook_pos_embed" in c and not removed else []
            added += ["token type"] if cfg.n_token_types else []
            label = " + ".join(["+ " + added[0], *added[1:]]) if added else "block input"
            label += (", normalised" if added else " (normalised)") if cfg.embed_norm else ""
            label += " (position removed)" if "hook_pos_embed" in c and removed else ""
        else:
            label = ("+ position (none: removed)" if removed else "+ position") if "hook_pos_embed" in c else "block input"
        out.append((label, c["blocks.0.hook_resid_pre"]))
    out += [(f"after block {l}", c[f"blocks.{l}.hook_resid_post"]) for l in range(cfg.n_layers)]
    return out


def embeddings(run: Run) -> schemas.EmbeddingsResponse:
    ids = torch.tensor(run.ids)
    same = (ids[:, None] == ids[None, :]).double()  # one-hot vectors: dot = cosine = 1 for the same id
    onehot = schemas.SimilarityLayer(label="one-hot", cosine=rnd(same), dot=rnd(same))
    levels = depths(run)
    layers = [_similarity(label, x) for label, x in levels]
    stacked = torch.stack([F.normalize(x.double(), dim=-1) for _, x in levels], dim=1)  # [pos, depth, d_model]
    n, d = stacked.shape[:2]
    coords, explained = _pca2(stacked.reshape(n * d, -1))
    paths = coords.reshape(n, d, 2)  # [pos, depth, 2]
    return schemas.EmbeddingsResponse(**run_info(run), onehot=onehot, layers=layers, paths=rnd(paths),
                                      path_labels=[label for label, _ in levels], explained=explained)


def word_token(loaded: LoadedModel, word: str) -> int:
    """The single token for `word`: its mid-sentence form (with a leading space) first, then as typed."""
    word = word.strip()
    if not word:
        raise ValueError("word is empty")
    tok = loaded.tokenizer
    named = tok.named(word)
    if named is not None:  # a special token's name ("[UNK]", "<|bos|>"): that token, as its id would ask
        return named
    for form in (" " + word, word):
        ids = tok.encode(form, add_bos=False)
        if len(ids) == 1:
            if ids[0] == tok.unk_id:
                # (its one token stands for any text the vocabulary cannot spell: its vector is not this word's)
                raise ValueError(f"“{word}” is not in this model's vocabulary: the model reads it as "
                                 f"{tok.display(ids[0])}, the one token for any text it cannot spell; try a more common word")
            return ids[0]
    mid, alone = (" + ".join(tok.displays(tok.encode(form, add_bos=False))) for form in (" " + word, word))
    split = f"it splits into {alone}" if mid == alone else f"mid-sentence it splits into {mid}, alone into {alone}"
    # (several words are never one token: "try a more common word" was no help for "the cat")
    words = len(word.split())
    advice = ("this model's tokens are single characters: type one" if single_characters(tok)
              else f"type one word: this is {words} words" if words > 1 else "try a more common word")
    raise ValueError(f"“{word}” is not one token in this model's vocabulary ({split}); {advice}")


@lru_cache(maxsize=16)
def single_characters(tok: Tokenizer) -> bool:
    """Whether each token of the vocabulary (but the special and unknown ones) is one character at most, as a
    training-lab task's letters are: no word of two letters is ever one token there."""
    if tok.vocab_size > 1024:  # (a vocabulary of words: larger than any alphabet the lab's tasks spell)
        return False
    return all(len(tok.hf.decode([i], skip_special_tokens=False).strip()) <= 1
               for i in range(tok.vocab_size) if not tok.is_special(i) and i != tok.unk_id)


def one_token(loaded: LoadedModel, token: str, name: str = "token") -> int:
    """The id of a string that is one token: as typed (" Paris", with its space), else with a space before
    (word_token). The notebook's and `attnlab report`'s token and versus."""
    if not token.strip():
        raise ValueError(f"{name} is empty: give a token id or a string that is one token")
    exact = loaded.tokenizer.id_of(token)
    return exact if exact is not None else word_token(loaded, token)


def _cosines(loaded: LoadedModel, vec: torch.Tensor, exclude: set[int]) -> torch.Tensor:
    """[vocab]: each token's input embedding's cosine with `vec`; -inf for the tokens left out (`exclude` and the
    special tokens), so that only the candidates rank."""
    emb = loaded.model.W_E.detach()
    cos = F.normalize(emb, dim=-1) @ F.normalize(vec, dim=-1)  # [vocab]
    for i in exclude | loaded.tokenizer.special_ids:
        cos[i] = float("-inf")
    return cos


def _nearest(loaded: LoadedModel, cos: torch.Tensor, k: int) -> list[schemas.Neighbor]:
    """The k candidates of highest cosine (`cos` [vocab] from _cosines)."""
    values, ids = cos.topk(min(k, int(torch.isfinite(cos).sum())))
    tok = loaded.tokenizer
    return [schemas.Neighbor(id=int(i), text=tok.token_text(int(i)), display=tok.display(int(i)), cosine=round(float(v), 4))
            for v, i in zip(values, ids, strict=True)]


def neighbors(loaded: LoadedModel, word: str | None, k: int, token_id: int | None = None) -> schemas.NeighborsResponse:
    if token_id is not None:
        if not 0 <= token_id < loaded.cfg.vocab_size:
            raise ValueError(f"token_id {token_id} is outside the vocabulary (0 to {loaded.cfg.vocab_size - 1})")
        tid = token_id
        word = loaded.tokenizer.decode([tid])
    else:
        tid = word_token(loaded, word)
    vec = loaded.model.W_E.detach()[tid]
    return schemas.NeighborsResponse(model=loaded.name, word=word, token=token(loaded, tid, 0),
                                     neighbors=_nearest(loaded, _cosines(loaded, vec, {tid}), k))


def _expected_token(loaded: LoadedModel, expect: str, abc: tuple[int, int, int]) -> int:
    """The token of the expected word, or a ValueError saying why it cannot rank among the candidates."""
    ie = word_token(loaded, expect)
    if ie in abc:
        raise ValueError(f"“{loaded.tokenizer.display(ie)}” is a, b or c, which are left out of the answer")
    if ie in loaded.tokenizer.special_ids:
        raise ValueError(f"“{loaded.tokenizer.display(ie)}” is a special token, which is left out of the answer")
    return ie


def analogy(loaded: LoadedModel, a: str, b: str, c: str, k: int, expect: str | None = None) -> schemas.AnalogyResponse:
    """The tokens nearest to a − b + c (a, b, c and the special tokens left out); with `expect`, where that word's
    token ranks among the same candidates, or why it cannot (the neighbours come either way)."""
    abc = ia, ib, ic = tuple(word_token(loaded, w) for w in (a, b, c))
    emb = loaded.model.W_E.detach()
    vec = emb[ia] - emb[ib] + emb[ic]  # [d_model]
    cos = _cosines(loaded, vec, set(abc))  # [vocab]
    expected, why = None, None
    if expect is not None and expect.strip():
        try:
            ie = _expected_token(loaded, expect, abc)
            expected = schemas.ExpectedToken(token=token(loaded, ie, 0), cosine=round(float(cos[ie]), 4),
                                             rank=int((cos > cos[ie]).sum()) + 1, of=int(torch.isfinite(cos).sum()))
        except ValueError as e:
            why = f"No rank for the word expected: {str(e).rstrip('.')}."
    return schemas.AnalogyResponse(model=loaded.name, a=token(loaded, ia, 0), b=token(loaded, ib, 0),
                                   c=token(loaded, ic, 0), neighbors=_nearest(loaded, cos, k),
                                   expected=expected, expected_unavailable=why)
