"""The current span: nesting, threads, asyncio tasks and gather, spans closed in another context,
and @traced generators that must not leak their span to the caller between yields."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import itertools
import threading

import ferrotel
import pytest
from ferrotel import propagation, traced

THREAD_TIMEOUT = 10


def finished(memory_exporter) -> dict[str, dict]:
    spans = {}
    for s in memory_exporter.get_finished_spans():
        assert s["name"] not in spans, f"{s['name']!r} ended twice"
        spans[s["name"]] = s
    return spans


def run_in_thread(target) -> None:
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 (re-raised in the test's thread)
            errors.append(exc)

    thread = threading.Thread(target=guarded)
    thread.start()
    thread.join(THREAD_TIMEOUT)
    assert not thread.is_alive(), "thread did not finish"
    if errors:
        raise errors[0]


def test_nesting_and_restoring(memory_exporter, tracer):
    assert ferrotel.current_span() is None
    with tracer.span("outer") as outer:
        assert ferrotel.current_span() is outer
        with tracer.span("inner") as inner:
            assert ferrotel.current_span() is inner
        assert ferrotel.current_span() is outer
        detached = tracer.start_span("detached")
        assert ferrotel.current_span() is outer, "start_span does not make the span current"
        detached.end()
    assert ferrotel.current_span() is None
    spans = finished(memory_exporter)
    assert spans["inner"]["parent_span_id"] == outer.context.span_id
    assert spans["detached"]["parent_span_id"] == outer.context.span_id
    assert spans["outer"]["parent_span_id"] is None
    assert inner.context.trace_id == outer.context.trace_id == spans["detached"]["trace_id"]


def test_explicit_parent_wins_over_current(memory_exporter, tracer):
    other = tracer.start_span("other-root")
    with tracer.span("current"), tracer.span("explicit", parent=other) as explicit:
        assert ferrotel.current_span() is explicit
        with tracer.span("grandchild"):
            pass
    other.end()
    spans = finished(memory_exporter)
    assert spans["explicit"]["parent_span_id"] == other.context.span_id
    assert spans["explicit"]["trace_id"] == other.context.trace_id
    assert spans["grandchild"]["parent_span_id"] == explicit.context.span_id


def test_new_thread_has_no_current_span(memory_exporter, tracer):
    seen = {}

    def work() -> None:
        seen["current"] = ferrotel.current_span()
        with tracer.span("in-thread") as span:
            seen["span"] = span

    with tracer.span("main") as main:
        run_in_thread(work)
        assert ferrotel.current_span() is main
    assert seen["current"] is None
    spans = finished(memory_exporter)
    assert spans["in-thread"]["parent_span_id"] is None
    assert spans["in-thread"]["trace_id"] != main.context.trace_id


def test_thread_with_propagated_context(memory_exporter, tracer):
    with tracer.span("main") as main:
        context = contextvars.copy_context()
        run_in_thread(lambda: context.run(lambda: tracer.span("copied").__enter__().end()))
        headers: dict[str, str] = {}
        propagation.inject(headers)

        def via_headers() -> None:
            with propagation.attach(headers), tracer.span("via-headers"):
                pass

        run_in_thread(via_headers)
    spans = finished(memory_exporter)
    assert spans["copied"]["parent_span_id"] == main.context.span_id
    assert spans["via-headers"]["parent_span_id"] == main.context.span_id
    assert spans["via-headers"]["trace_id"] == main.context.trace_id


def test_thread_pool_workers_do_not_inherit_spans(memory_exporter, tracer):
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        with tracer.span("submitter") as submitter:
            plain = pool.submit(lambda: ferrotel.current_span()).result(THREAD_TIMEOUT)
            context = contextvars.copy_context()
            carried = pool.submit(context.run, ferrotel.current_span).result(THREAD_TIMEOUT)
        after = pool.submit(lambda: ferrotel.current_span()).result(THREAD_TIMEOUT)
    assert plain is None
    assert carried is submitter
    assert after is None, "a worker that ran a copied context keeps no span"


def test_many_threads_no_cross_talk(memory_exporter, tracer):
    barrier = threading.Barrier(8, timeout=THREAD_TIMEOUT)
    results: dict[int, tuple] = {}

    def work(i: int) -> None:
        with tracer.span(f"thread-{i}") as span:
            barrier.wait()
            with tracer.span(f"thread-{i}-child") as child:
                barrier.wait()
                results[i] = (span, child, ferrotel.current_span())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(THREAD_TIMEOUT)
    assert len(results) == 8
    spans = finished(memory_exporter)
    for i, (span, child, current) in results.items():
        assert current is child
        assert spans[f"thread-{i}-child"]["parent_span_id"] == span.context.span_id
        assert spans[f"thread-{i}"]["parent_span_id"] is None


def test_asyncio_tasks_and_gather(memory_exporter, tracer):
    async def child(i: int) -> tuple:
        parent_at_start = ferrotel.current_span()
        async with tracer.span(f"task-{i}") as span:
            for _ in range(3):
                await asyncio.sleep(0)  # interleave with the other tasks
                assert ferrotel.current_span() is span
            async with tracer.span(f"task-{i}-inner") as inner:
                await asyncio.sleep(0)
                assert ferrotel.current_span() is inner
            assert ferrotel.current_span() is span
        assert ferrotel.current_span() is parent_at_start
        return parent_at_start, span

    async def main() -> None:
        async with tracer.span("request") as request:
            results = await asyncio.gather(*(child(i) for i in range(5)))
            assert ferrotel.current_span() is request
            for parent, _span in results:
                assert parent is request
            async with tracer.span("other") as other:
                task = asyncio.create_task(child(99))
            # The task was created while "other" was current: that is its parent, even though
            # it runs after "other" has ended.
            parent, _ = await asyncio.wait_for(task, THREAD_TIMEOUT)
            assert parent is other
        assert ferrotel.current_span() is None

    asyncio.run(main())
    spans = finished(memory_exporter)
    request_id = spans["request"]["span_id"]
    for i in range(5):
        assert spans[f"task-{i}"]["parent_span_id"] == request_id
        assert spans[f"task-{i}-inner"]["parent_span_id"] == spans[f"task-{i}"]["span_id"]
    assert spans["task-99"]["parent_span_id"] == spans["other"]["span_id"]


def test_traced_coroutines_under_gather(memory_exporter, tracer):
    @traced(name="leaf", tracer=tracer)
    async def leaf(i: int) -> int:
        await asyncio.sleep(0)
        ferrotel.current_span().set_attribute("i", i)
        return i

    @traced(tracer=tracer)
    async def branch(i: int) -> list[int]:
        return list(await asyncio.gather(leaf(i * 10), leaf(i * 10 + 1)))

    async def main() -> list:
        async with tracer.span("root"):
            return await asyncio.gather(branch(1), branch(2))

    assert asyncio.run(main()) == [[10, 11], [20, 21]]
    spans = memory_exporter.get_finished_spans()
    by_id = {s["span_id"]: s for s in spans}
    leaves = [s for s in spans if s["name"] == "leaf"]
    assert len(leaves) == 4
    for leaf_span in leaves:
        assert by_id[leaf_span["parent_span_id"]]["name"].endswith("branch")
    branches = [s for s in spans if s["name"].endswith("branch")]
    assert len(branches) == 2
    root_id = [s for s in spans if s["name"] == "root"][0]["span_id"]
    assert all(b["parent_span_id"] == root_id for b in branches)
    # Each branch has exactly its own two leaves.
    for b in branches:
        own = sorted(s["attributes"]["i"] for s in leaves if s["parent_span_id"] == b["span_id"])
        assert own in ([10, 11], [20, 21])


def test_to_thread_carries_the_context(memory_exporter, tracer):
    async def main() -> None:
        async with tracer.span("caller") as caller:
            seen = await asyncio.wait_for(asyncio.to_thread(ferrotel.current_span), THREAD_TIMEOUT)
            assert seen is caller

    asyncio.run(main())


def test_span_closed_in_another_context_does_not_corrupt_the_current_one(memory_exporter, tracer):
    # Entered in a copied context, exited in this one.
    stray = tracer.span("stray")
    contextvars.copy_context().run(stray.__enter__)
    with tracer.span("current") as current:
        stray.__exit__(None, None, None)
        assert ferrotel.current_span() is current
        with tracer.span("after") as after:
            assert ferrotel.current_span() is after
        assert ferrotel.current_span() is current
    assert ferrotel.current_span() is None
    spans = finished(memory_exporter)
    assert spans["after"]["parent_span_id"] == current.context.span_id
    assert spans["stray"]["parent_span_id"] is None


def test_span_entered_in_one_task_and_exited_in_another(memory_exporter, tracer):
    async def main() -> None:
        handoff: asyncio.Queue = asyncio.Queue()

        async def opener() -> None:
            span = tracer.span("handed-over")
            await span.__aenter__()
            await handoff.put(span)

        async def closer() -> None:
            async with tracer.span("closer") as closer_span:
                span = await asyncio.wait_for(handoff.get(), THREAD_TIMEOUT)
                await span.__aexit__(None, None, None)
                assert ferrotel.current_span() is closer_span
                async with tracer.span("closer-child"):
                    pass
            assert ferrotel.current_span() is None

        await asyncio.gather(opener(), closer())
        assert ferrotel.current_span() is None

    asyncio.run(main())
    spans = finished(memory_exporter)
    assert spans["closer-child"]["parent_span_id"] == spans["closer"]["span_id"]
    assert "handed-over" in spans


def test_ending_twice_exports_once(memory_exporter, tracer):
    with tracer.span("once") as span:
        span.end()
    span.end()
    assert [s["name"] for s in memory_exporter.get_finished_spans()] == ["once"]
    assert ferrotel.current_span() is None


def test_traced_generator_does_not_leak_its_span(memory_exporter, tracer):
    inside: list = []

    @traced(tracer=tracer)
    def numbers(n: int):
        for i in range(n):
            inside.append(ferrotel.current_span())
            with tracer.span(f"item-{i}"):
                pass
            yield i

    with tracer.span("caller") as caller:
        gen = numbers(3)
        assert ferrotel.current_span() is caller
        for value in gen:
            assert ferrotel.current_span() is caller, "the generator's span leaked between yields"
            assert value in (0, 1, 2)
        assert ferrotel.current_span() is caller
    spans = finished(memory_exporter)
    gen_span = spans[numbers.__qualname__]
    assert gen_span["parent_span_id"] == caller.context.span_id
    assert len({id(s) for s in inside}) == 1 and inside[0].context.span_id == gen_span["span_id"]
    for i in range(3):
        assert spans[f"item-{i}"]["parent_span_id"] == gen_span["span_id"]
    assert gen_span["status"] == "UNSET"


def test_traced_generators_interleaved(memory_exporter, tracer):
    @traced(tracer=tracer)
    def letters(tag: str):
        for ch in "ab":
            yield tag, ch, ferrotel.current_span()

    with tracer.span("caller") as caller:
        first, second = letters("x"), letters("y")
        # zip_longest, not zip(strict=True) (3.10+): both generators advance in turn, and a
        # missing item shows up as None
        pairs = list(itertools.zip_longest(first, second))
        assert None not in pairs
        assert ferrotel.current_span() is caller
    for (tx, _, sx), (ty, _, sy) in pairs:
        assert (tx, ty) == ("x", "y")
        assert sx is not sy and sx is not caller and sy is not caller
    assert ferrotel.current_span() is None


def test_traced_generator_closed_early_ends_its_span(memory_exporter, tracer):
    @traced(name="endless", tracer=tracer)
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    with tracer.span("caller") as caller:
        gen = endless()
        assert [next(gen) for _ in range(3)] == [0, 1, 2]
        gen.close()
        assert ferrotel.current_span() is caller
    spans = finished(memory_exporter)
    assert spans["endless"]["status"] == "UNSET"
    assert spans["endless"]["events"] == []


def test_traced_async_generator_does_not_leak_its_span(memory_exporter, tracer):
    @traced(tracer=tracer)
    async def ticks(n: int):
        for i in range(n):
            await asyncio.sleep(0)
            async with tracer.span(f"tick-{i}"):
                pass
            yield i, ferrotel.current_span()

    async def main() -> None:
        async with tracer.span("consumer") as consumer:
            seen = []
            async for i, span_inside in ticks(3):
                assert ferrotel.current_span() is consumer, "the generator's span leaked"
                seen.append((i, span_inside))
            assert [i for i, _ in seen] == [0, 1, 2]
            assert len({id(s) for _, s in seen}) == 1 and seen[0][1] is not consumer

    asyncio.run(main())
    spans = finished(memory_exporter)
    gen_span = spans[ticks.__qualname__]
    assert gen_span["parent_span_id"] == spans["consumer"]["span_id"]
    for i in range(3):
        assert spans[f"tick-{i}"]["parent_span_id"] == gen_span["span_id"]


def test_traced_async_generators_in_concurrent_tasks(memory_exporter, tracer):
    @traced(name="stream", tracer=tracer)
    async def stream(tag: str):
        for i in range(3):
            await asyncio.sleep(0)
            yield tag, i

    async def consume(tag: str) -> list:
        async with tracer.span(f"consumer-{tag}") as span:
            items = []
            async for item in stream(tag):
                assert ferrotel.current_span() is span
                items.append(item)
            return items

    async def main() -> list:
        return await asyncio.gather(consume("a"), consume("b"))

    assert asyncio.run(main()) == [[("a", 0), ("a", 1), ("a", 2)], [("b", 0), ("b", 1), ("b", 2)]]
    spans = memory_exporter.get_finished_spans()
    consumers = {s["span_id"]: s["name"] for s in spans if s["name"].startswith("consumer-")}
    streams = [s for s in spans if s["name"] == "stream"]
    assert len(streams) == 2
    assert sorted(consumers[s["parent_span_id"]] for s in streams) == ["consumer-a", "consumer-b"]


@pytest.mark.parametrize("kind", ["thread", "task"])
def test_attach_is_scoped(memory_exporter, tracer, kind):
    """A remote context attached in one thread or task is not visible to others."""
    headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    seen = []
    if kind == "thread":
        with propagation.attach(headers):
            run_in_thread(lambda: seen.append(ferrotel.current_span()))
    else:

        async def main() -> None:
            async def other() -> None:
                await asyncio.sleep(0)
                seen.append(ferrotel.current_span())

            task = asyncio.create_task(other())
            with propagation.attach(headers):
                await asyncio.sleep(0)
                await asyncio.wait_for(task, THREAD_TIMEOUT)

        asyncio.run(main())
    assert seen == [None]
    assert ferrotel.current_span() is None
