"""Each task generator makes what its description says."""

import random

import pytest

from models import tasks
from models.tasks import BOS_ID, IGNORE, MARK_ID, PAD_ID, SEP_ID, get_task

LETTER_IDS = set(range(tasks.FIRST_LETTER, tasks.FIRST_LETTER + 26))


def rows(task, n=200, seed=3):
    b = task.batch(n, random.Random(seed))
    assert b.ids.shape == b.targets.shape == (n, task.seq_len)
    return [(ids.tolist(), t.tolist()) for ids, t in zip(b.ids, b.targets, strict=True)]


def scored_positions(targets):
    return [i for i, t in enumerate(targets) if t != IGNORE]


def test_every_target_is_the_next_token_where_the_sequence_goes_on():
    for name in tasks.TASKS:
        task = get_task(name)
        for ids, targets in rows(task, 50):
            assert ids[0] == (task.tokenizer().bos_id if name == "tinystories" else BOS_ID)
            for i in scored_positions(targets):
                if i + 1 < len(ids):
                    assert targets[i] == ids[i + 1], (name, ids, targets)


def test_copy_repeats_distinct_letters_at_varying_lengths_and_scores_the_second_copy_after_its_first_letter():
    task = get_task("copy")
    lengths = set()
    for ids, targets in rows(task):
        n = (task.seq_len - 1 - ids.count(PAD_ID)) // 2
        s = ids[1:1 + n]
        assert ids[1 + n:1 + 2 * n] == s
        lengths.add(n)
        assert len(set(s)) == n and set(s) <= LETTER_IDS
        assert ids[1 + 2 * n:] == [PAD_ID] * (task.seq_len - 1 - 2 * n)
        assert scored_positions(targets) == list(range(1 + n, 2 * n))  # second copy, letters 1 .. n-1 read
        for k, i in enumerate(scored_positions(targets)):
            assert targets[i] == s[k + 1]
            j = ids.index(ids[i])  # the first occurrence of the letter just read
            assert j < i and ids[j + 1] == targets[i]  # the answer follows it: induction finds it
    assert lengths == set(range(task.min_len, task.max_len + 1))  # every length occurs: no fixed offset


def test_reverse_and_sort():
    for name, how in (("reverse", lambda s: s[::-1]), ("sort", sorted)):
        task = get_task(name)
        n = task.length
        for ids, targets in rows(task):
            s = ids[1:1 + n]
            assert set(s) <= LETTER_IDS and ids[1 + n] == SEP_ID and ids[2 + n:] == list(how(s))
            assert scored_positions(targets) == list(range(1 + n, 1 + 2 * n))
            assert [targets[i] for i in scored_positions(targets)] == list(how(s))
    # the description's rule, read with its numbers (it said "letter n + 1 - k" without saying what n is)
    task = get_task("reverse")
    assert f"Letter k of the answer (k from 1 to {task.length}) is letter {task.length + 1} - k of s" in task.description
    for ids, _ in rows(task):
        s, answer = ids[1:1 + task.length], ids[2 + task.length:]
        assert all(answer[k - 1] == s[task.length + 1 - k - 1] for k in range(1, task.length + 1))


def test_after_marker_asks_for_the_letter_after_the_first_marker_at_the_end():
    task = get_task("after-marker")
    places = set()
    for ids, targets in rows(task):
        assert ids[-1] == MARK_ID and ids[1:-1].count(MARK_ID) == 1
        at = ids.index(MARK_ID)
        places.add(at)
        assert scored_positions(targets) == [len(ids) - 1] and targets[-1] == ids[at + 1] and ids[at + 1] in LETTER_IDS
    assert len(places) > 5  # the marker moves


def test_tinystories_windows_come_from_the_corpus_and_score_every_position():
    task = get_task("tinystories")
    tok = task.tokenizer()
    data = tasks.stories_ids(task.chars)
    text = "".join(tok.decode(data))
    for ids, targets in rows(task, 20):
        assert scored_positions(targets) == list(range(task.seq_len))
        window = ids[1:] + [targets[-1]]
        assert tok.decode(window) in text
    ex = task.example()
    assert ex.targets[0, :-1].tolist() == ex.ids[0, 1:].tolist()


def test_examples_and_probes_are_fixed_and_readable():
    for name in tasks.TASKS:
        task = get_task(name)
        a, b = task.example(), task.example()
        assert a.ids.tolist() == b.ids.tolist() and a.targets.tolist() == b.targets.tolist()
        probe = task.probe()
        n = (len(probe) - 1) // 2
        first, second = probe[1:1 + n], probe[1 + n:]
        assert len(set(first)) == n and sorted(first) == sorted(second) and first != second
        assert all(x != y for x, y in zip(first, second, strict=True))  # no token at the same distance back twice
        assert len(probe) <= task.seq_len


def test_the_symbol_tokenizer_reads_letters_one_by_one_and_shows_them():
    tok = tasks.symbol_tokenizer()
    assert tok.encode("a b c") == tok.encode("ABC") == [BOS_ID, 5, 6, 7]
    assert tok.displays(tok.encode("xy|*.")) == ["<|bos|>", "x", "y", "|", "*", "."]
    assert tok.encode("é!", add_bos=False) == [tasks.UNK_ID, tasks.UNK_ID]
    assert tok.decode(tok.encode("abc")) == "a b c"


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'nope'; the tasks are: copy, reverse"):
        get_task("nope")
