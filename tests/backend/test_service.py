"""ModelService: the result cache is bounded in memory and hands back the same run for the same question."""

import gc
import threading

import pytest
from pydantic import ValidationError

from backend.analysis import attention, common
from backend.service import ModelService
from backend.settings import Settings
from models.transformer import Interventions

TEXTS = [f"Sentence {i}: the cat sat on the mat." for i in range(6)]


def test_the_same_question_is_answered_from_the_cache():
    service = ModelService(Settings())
    a = service.run(None, TEXTS[0], Interventions())
    assert service.run(None, TEXTS[0], Interventions()) is a
    assert service.run(None, TEXTS[0], Interventions(scale=False)) is not a
    assert service.cached_bytes == sum(r.nbytes for r in (a, service.run(None, TEXTS[0], Interventions(scale=False))))


def test_a_runs_size_counts_each_storage_once():
    run = ModelService(Settings()).run(None, TEXTS[0], Interventions())
    tensors = [*run.cache.values(), run.logits]  # through the cache: views of the stored values
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    assert len(storages) < len(tensors)  # hook values share storages
    assert run.nbytes == sum(storages.values()) >= sum(t.numel() * t.element_size() for t in run.cache.values()) / 2


def test_the_cache_keeps_to_its_memory_budget_dropping_the_least_recently_used():
    one = ModelService(Settings()).run(None, TEXTS[0], Interventions()).nbytes
    service = ModelService(Settings(result_cache_mb=3.5 * one / 2**20))  # room for three runs of this size
    first = service.run(None, TEXTS[0], Interventions())
    second = service.run(None, TEXTS[1], Interventions())
    service.run(None, TEXTS[2], Interventions())
    assert service.run(None, TEXTS[0], Interventions()) is first  # now the most recently used
    service.run(None, TEXTS[3], Interventions())  # evicts TEXTS[1]
    assert service.cached_bytes <= 3.5 * one and len(service._runs) == 3
    assert service.run(None, TEXTS[0], Interventions()) is first
    assert service.run(None, TEXTS[1], Interventions()) is not second  # computed again


def test_the_cache_never_holds_more_than_its_budget_however_few_runs_it_keeps():
    # a few large passes (SmolLM2 at 124 tokens: 203 MB each) are bounded by the budget like many small ones
    one = ModelService(Settings()).run(None, TEXTS[0], Interventions()).nbytes
    service = ModelService(Settings(result_cache_mb=1.5 * one / 2**20))  # room for one run of this size
    for text in TEXTS[:4]:
        last = service.run(None, text, Interventions())
        assert service.cached_bytes <= 1.5 * one
    assert len(service._runs) == 1 and service.run(None, TEXTS[3], Interventions()) is last


def test_a_run_larger_than_the_whole_budget_is_not_kept():
    service = ModelService(Settings(result_cache_mb=1e-6))  # smaller than any run
    first = service.run(None, TEXTS[0], Interventions())
    assert service.cached_bytes == 0 and not service._runs
    assert service.run(None, TEXTS[0], Interventions()) is not first  # computed again


def test_no_cache_when_its_budget_is_zero():
    service = ModelService(Settings(result_cache_mb=0))
    a = service.run(None, TEXTS[0], Interventions())
    assert service.run(None, TEXTS[0], Interventions()) is not a and service.cached_bytes == 0


def test_the_budget_must_be_a_finite_size():
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="result_cache_mb"):
            Settings(result_cache_mb=bad)


def test_memory_of_dropped_runs_goes_back_to_the_kernel_now_and_then(monkeypatch):
    import backend.service

    trims = []
    monkeypatch.setattr(backend.service, "trim_allocator", lambda: trims.append(1))
    one = ModelService(Settings()).run(None, TEXTS[0], Interventions()).nbytes

    class TrimOften(ModelService):
        TRIM_AFTER_BYTES = int(1.5 * one)  # after the second run dropped
        TRIM_AFTER_RUNS = 1

    service = TrimOften(Settings(result_cache_mb=2.5 * one / 2**20))  # room for two runs
    for text in TEXTS[:4]:  # two stay, the first two are dropped
        service.run(None, text, Interventions())
    assert trims == [1]


@pytest.mark.parametrize(("at_most", "trimmed_after"), [(None, 3), (2, 2)])
def test_trimming_waits_for_several_runs_of_the_size_just_stored_up_to_a_bound(monkeypatch, at_most, trimmed_after):
    # a trim gives back the holes the next passes would reuse (they then fault their memory in again): it waits for
    # TRIM_AFTER_RUNS runs of the size just stored, more than TRIM_AFTER_BYTES, but never more than TRIM_AT_MOST
    import backend.service

    trims = []
    monkeypatch.setattr(backend.service, "trim_allocator", lambda: trims.append(len(service._runs)))
    sizes = {t: ModelService(Settings()).run(None, t, Interventions()).nbytes
             for t in (f"The {w} sat on the mat." for w in "cat dog bird fish frog duck girl boy king tree".split())}
    one = max(set(sizes.values()), key=list(sizes.values()).count)
    texts = [t for t, n in sizes.items() if n == one]  # runs of one size
    assert len(texts) >= 6

    class TrimLater(ModelService):
        TRIM_AFTER_BYTES = 1
        TRIM_AFTER_RUNS = 3
        TRIM_AT_MOST = 10**12 if at_most is None else at_most * one

    service = TrimLater(Settings(result_cache_mb=2.5 * one / 2**20))  # room for two runs
    dropped_at_trim = []
    for i, text in enumerate(texts):  # two stay: the i-th run drops run i - 2
        before = len(trims)
        service.run(None, text, Interventions())
        if len(trims) > before:
            dropped_at_trim.append(i - 1)  # runs dropped so far
    assert dropped_at_trim == list(range(trimmed_after, len(texts) - 1, trimmed_after))


def test_a_model_just_loaded_is_frozen_out_of_the_garbage_collector_once(monkeypatch):
    # a full collection walks every object it sees while holding the GIL (145 ms with SmolLM2 loaded): what lives as
    # long as the server is frozen when a model has loaded, and only then
    import backend.service

    freezes, freeze, me = [], gc.freeze, threading.get_ident()  # (other threads' loads, if any, not counted)
    monkeypatch.setattr(backend.service.gc, "freeze", lambda: (freezes.append(threading.get_ident() == me), freeze()))
    service = ModelService(Settings())
    alive = [[i] for i in range(10)]  # containers alive at the load: frozen with the model
    assert any(o is alive for o in gc.get_objects())
    loaded = service.load_now(None)
    assert freezes.count(True) == 1 and not any(o is alive for o in gc.get_objects())  # frozen: out of the collector's view
    assert service.load_now(None) is loaded and freezes.count(True) == 1  # loaded already: nothing frozen again


def test_no_collection_runs_while_a_model_loads_and_the_collector_runs_again_after_even_if_the_load_fails():
    from models import registry

    seen = []

    def load(name):
        seen.append(gc.isenabled())
        if name == "broken":
            raise RuntimeError("a broken file")
        return registry.load(name)

    service = ModelService(Settings(), load=load)
    assert gc.isenabled()
    service.load_now(None)
    with pytest.raises(Exception, match="a broken file"):
        service.load_now("broken")
    assert seen == [False, False] and gc.isenabled()
    service.load_now(None)  # loaded already: the collector is not paused for it
    assert seen == [False, False, True] and gc.isenabled()


def test_a_requests_work_runs_in_inference_mode_with_the_same_answer_as_outside_it():
    import torch

    service = ModelService(Settings())
    assert not torch.is_inference_mode_enabled()
    with service.work():
        assert torch.is_inference_mode_enabled()
        inside = attention.analyze(service.run(None, TEXTS[0], Interventions()), 5, roles=True)
    assert not torch.is_inference_mode_enabled()
    outside = attention.analyze(ModelService(Settings()).run(None, TEXTS[0], Interventions()), 5, roles=True)
    assert inside.model_dump_json() == outside.model_dump_json()


def test_spare_threads_borrow_a_free_slot_and_give_it_back_and_do_nothing_when_none_is_free():
    import torch

    service = ModelService(Settings(max_concurrent_runs=2, torch_threads=1))
    held = threading.Event()
    done = threading.Event()

    def other_request():
        with service.work():
            held.set()
            done.wait(10)

    with service.work():  # this request's slot
        base = torch.get_num_threads()
        with service.spare_threads(ModelService.SPARE_ABOVE):  # the other slot is free: borrowed, with its thread
            assert torch.get_num_threads() == base + 1 and service.stats()["running"] == 2
        assert torch.get_num_threads() == base and service.stats()["running"] == 1
        t = threading.Thread(target=other_request)
        t.start()
        assert held.wait(10)  # the other slot is another request's now: nothing to borrow
        with service.spare_threads(ModelService.SPARE_ABOVE):
            assert torch.get_num_threads() == base and service.stats()["running"] == 2
        done.set()
        t.join()
    assert service.stats()["running"] == 0
    assert service._slots.acquire(blocking=False) and service._slots.acquire(blocking=False)  # both slots back


def test_aside_runs_work_on_a_free_slot_holding_it_until_done_and_declines_when_none_is_free():
    service = ModelService(Settings(max_concurrent_runs=2, torch_threads=1))
    started, finish = threading.Event(), threading.Event()

    def work():
        started.set()
        assert finish.wait(10)
        return threading.current_thread().name

    with service.work():  # this request's slot
        beside = service.aside(work)
        assert beside is not None and started.wait(10)
        assert service.stats()["running"] == 2  # the other slot, held by the work beside
        assert service.aside(lambda: None) is None  # no slot left: declined at once
        with service.spare_threads(ModelService.SPARE_ABOVE):
            assert service.stats()["running"] == 2  # nothing more to borrow either
        finish.set()
        assert beside.result(10).startswith("aside") and beside.result() != threading.current_thread().name
        assert service.stats()["running"] == 1
        assert service.aside(lambda: 7).result(10) == 7  # free again
    assert service.stats()["running"] == 0
    assert service._slots.acquire(blocking=False) and service._slots.acquire(blocking=False)  # both slots back


class Gated(ModelService):
    """A service whose forward passes wait at a gate, counted, so that a test can have two requests ask at once."""

    def __init__(self, settings: Settings, fail_first: bool = False):
        super().__init__(settings)
        self.gate = threading.Event()
        self.started = threading.Event()
        self.forwards = 0
        self.fail_first = fail_first

    def _forward(self, loaded, ids, iv, hooks=None):
        self.forwards += 1
        self.started.set()
        assert self.gate.wait(10)
        if self.fail_first and self.forwards == 1:
            raise RuntimeError("the first pass fails")
        return super()._forward(loaded, ids, iv, hooks)


def _at_once(service: ModelService, n: int) -> list:
    """n threads asking the same pass, each in a request's work(); the first asks first and holds the pass at the gate
    until the others have asked too. -> what each got (a Run or the exception)."""
    got: list = [None] * n

    def ask(i: int) -> None:
        try:
            with service.work():
                got[i] = service.run(None, TEXTS[0], Interventions())
        except Exception as e:  # noqa: BLE001 (the test reads it)
            got[i] = e

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    threads[0].start()
    assert service.started.wait(10)
    for t in threads[1:]:
        t.start()
    while service.stats()["joined"] < n - 1:  # each of the others waits for that pass
        threading.Event().wait(0.01)
    service.gate.set()
    for t in threads:
        t.join(10)
    return got


@pytest.mark.parametrize("cache_mb", [0, 64])
def test_requests_for_a_pass_being_computed_wait_for_it_instead_of_computing_it_again(cache_mb):
    service = Gated(Settings(max_concurrent_runs=2, result_cache_mb=cache_mb))
    first, second = _at_once(service, 2)
    assert service.forwards == 1 and first is second  # one pass, one run for both
    assert service.stats()["joined"] == 1 and service.stats()["passes_done"] == 1
    assert not service._flights and service.stats()["running"] == 0
    third = service.run(None, TEXTS[0], Interventions())  # afterwards: from the cache, or computed again without one
    assert (third is first) == (cache_mb > 0) and service.forwards == (1 if cache_mb else 2)


def test_when_the_pass_another_request_waited_for_fails_it_is_computed_for_the_one_waiting():
    service = Gated(Settings(max_concurrent_runs=2), fail_first=True)
    first, second = _at_once(service, 2)
    assert isinstance(first, RuntimeError) and service.forwards == 2
    assert second is service.run(None, TEXTS[0], Interventions())  # computed by the second, and kept
    assert not service._flights


def test_the_answers_of_one_pass_share_its_run_info_made_once(monkeypatch):
    """run_info (the tokens, the interventions) is made by the first answer of a pass and shared by the next ones:
    the same values, the text tokenized once; each caller gets a dict of its own to add fields to."""
    service = ModelService(Settings())
    run = service.run(None, "The cat sat on the mat.", Interventions(ablate=((0, 1),)))
    made = []
    real = common.tokens
    monkeypatch.setattr(common, "tokens", lambda *a: made.append(1) or real(*a))
    first, second = common.run_info(run), common.run_info(run)
    assert len(made) == 1 and first == second and first is not second
    first["position"] = 3
    assert "position" not in common.run_info(run)
    assert [t.display for t in first["tokens"]] == [t.display for t in real(run.loaded, run.text, run.ids)]
    assert first["interventions"].ablate == [(0, 1)]
    answer = attention.analyze(run, 3)  # an answer built on it, after it was made
    assert answer.tokens == first["tokens"] and len(made) == 1


def test_a_text_one_token_too_long_is_told_to_cut_1_token(client):
    """A text one token past what a model reads was told to "cut at least 1 tokens" (the API's refusal, which the page
    quotes beside its note): 1 token, else tokens, at each of the refusal's limits (the trained length of a model that
    cannot run past it, and the longest a model runs past it)."""
    for model, limit, beyond in (("tiny-learned", 128, False), ("tiny-sinusoidal", 512, True)):
        for over in (1, 2):
            text = "a" + " a" * (limit - 1 + over - 1)  # BOS + limit - 1 + over tokens
            r = client.post("/api/analyze", json={"text": text, "model": model, "top_k": 1, "layers": [],
                                                  "allow_beyond_trained": beyond})
            detail = r.json()["detail"]
            assert r.status_code == 422 and f"the text is {limit + over} tokens" in detail, detail
            assert detail.endswith(f"cut at least {over} token" + ("s" if over > 1 else "")), detail
