"""The guide's Audotics music service: song plays and recommendations, with ferrotel's
metrics, logs and traces, as a small WSGI application."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from ferrotel import Counter, Gauge, Histogram, MetricsCollector, Registry, get_logger, get_tracer

ROUTES = [
    (re.compile(r"^/songs/(?P<song_id>\d+)/play$"), "/songs/{song_id}/play"),
    (re.compile(r"^/users/(?P<user_id>\d+)/recommendations$"), "/users/{user_id}/recommendations"),
]


class RecommendationError(RuntimeError):
    pass


class MusicService:
    """Song plays and recommendations, instrumented as the guide's examples are."""

    def __init__(self, registry: Registry, seed: int = 7) -> None:
        self.metrics = MetricsCollector(registry)
        self.metrics.register(
            Counter("song_plays_total", "Total number of song plays", ["genre"], registry=registry)
        )
        self.metrics.register(
            Counter(
                "recommendations_generated_total",
                "Total number of recommendations generated",
                registry=registry,
            )
        )
        self.metrics.register(
            Counter("recommendation_errors_total", "Recommendation requests that failed", registry=registry)
        )
        self.metrics.register(
            Histogram(
                "recommendation_generation_duration",
                "Time to generate recommendations",
                unit="seconds",
                buckets=(0.001, 0.005, 0.01, 0.05, 0.1),
                registry=registry,
            )
        )
        self.listeners = Gauge("demo_listeners", "Listeners streaming right now", registry=registry)
        self.tracer = get_tracer("audotics.music")
        self.logger = get_logger("audotics.music")
        self.random = random.Random(seed)

    def play(self, song_id: int) -> dict[str, Any]:
        genre = self.random.choice(["rock", "jazz", "ambient"])
        self.metrics.counter("song_plays_total").labels(genre).inc()
        self.logger.info("Song played", song_id=song_id, genre=genre)
        return {"song_id": song_id, "genre": genre}

    def generate_recommendations(self, user_id: int) -> list[str]:
        def generate(span: Any) -> list[str]:
            start = time.perf_counter()
            try:
                span.set_attribute("user.id", user_id)
                if self.random.random() < 0.05:
                    raise RecommendationError(f"no taste profile for user {user_id}")
                songs = [f"song-{self.random.randrange(10_000)}" for _ in range(5)]
                self.metrics.counter("recommendations_generated_total").inc(len(songs))
                self.logger.info("Recommendations generated", user_id=user_id, count=len(songs))
                return songs
            except RecommendationError as error:
                self.metrics.counter("recommendation_errors_total").inc()
                self.logger.error("Failed to generate recommendations", user_id=user_id, error=str(error))
                raise
            finally:
                elapsed = time.perf_counter() - start
                self.metrics.histogram("recommendation_generation_duration_seconds").observe(elapsed)

        result: list[str] = self.tracer.trace("generate_recommendations", generate)
        return result

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The HTTP front: a two-route router that records the route template for the middleware."""
        path = environ.get("PATH_INFO", "")
        for pattern, template in ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            environ["ferrotel.route"] = template
            try:
                if "song_id" in match.groupdict():
                    body: Any = self.play(int(match["song_id"]))
                else:
                    body = self.generate_recommendations(int(match["user_id"]))
                status = "200 OK"
            except RecommendationError as error:
                body, status = {"error": str(error)}, "500 Internal Server Error"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
