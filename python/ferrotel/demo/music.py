"""The guide's Audotics music service, instrumented with ferrotel's metrics."""

from __future__ import annotations

import random
import time

from ferrotel import Counter, Gauge, Histogram, MetricsCollector, Registry


class RecommendationError(RuntimeError):
    pass


class MusicService:
    """Song plays and recommendations, with the guide's custom metrics."""

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
                "Time to generate recommendations, in seconds",
                unit="seconds",
                buckets=(0.001, 0.005, 0.01, 0.05, 0.1),
                registry=registry,
            )
        )
        self.listeners = Gauge("demo_listeners", "Listeners streaming right now", registry=registry)
        self.random = random.Random(seed)

    def play(self, genre: str) -> None:
        self.metrics.counter("song_plays_total").labels(genre).inc()

    def generate_recommendations(self, user_id: int) -> list[str]:
        start = time.perf_counter()
        try:
            if self.random.random() < 0.05:
                raise RecommendationError(f"no taste profile for user {user_id}")
            songs = [f"song-{self.random.randrange(10_000)}" for _ in range(5)]
            self.metrics.counter("recommendations_generated_total").inc(len(songs))
            return songs
        except RecommendationError:
            self.metrics.counter("recommendation_errors_total").inc()
            raise
        finally:
            self.metrics.histogram("recommendation_generation_duration_seconds").observe(
                time.perf_counter() - start
            )

    def handle(self, method: str, route: str) -> int:
        """One simulated HTTP request through the service; returns the status."""
        start = time.perf_counter()
        status = 200
        if route == "/songs/{song_id}/play":
            self.play(self.random.choice(["rock", "jazz", "ambient"]))
        else:
            try:
                self.generate_recommendations(self.random.randrange(1_000))
            except RecommendationError:
                status = 500
        self.metrics.record_request(method, route, status, time.perf_counter() - start)
        return status
