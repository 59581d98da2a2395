"""Which pictures of a clip screening samples, against a face shown between a grid's samples.

A clip shows one face in every fifth picture (where a grid of samples every 0.2 s from the first
picture falls, at 25 pictures a second) and another face in the four pictures between. For many
clips of two and three seconds, count the clips whose samples all fall on the first face's
pictures (the second face never seen), for screening's sampling (`gatekeeper.imaging.video.
next_due` with `SAMPLE_GAPS`, the code `frames` runs) and for the grid it replaced (started at a
random point of its first 0.2 s, each sample up to 0.06 s after its place). Only the times are
simulated: no picture is decoded. Ends with one line per clip length:
bench-sampling: seconds=S clips=N missed_drifting=X missed_grid=X samples_per_s=X (grid X)
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatekeeper.imaging.video import next_due  # noqa: E402
from gatekeeper.screening.clips import SAMPLE_EVERY, SAMPLE_GAPS  # noqa: E402

FPS = 25
PERIOD = 5  # the first face in picture 0, 5, 10, ...; the second in the four between
OLD_JITTER = 0.06


def drifting(pictures: int, rng: random.Random) -> list[int]:
    """The pictures screening samples, as `frames` chooses them with SAMPLE_GAPS."""
    taken, due = [], None
    for index in range(pictures):
        time = index / FPS
        if due is not None and time < due:
            continue
        due = next_due(due, time, every=SAMPLE_EVERY, gaps=SAMPLE_GAPS, rng=rng)
        taken.append(index)
    return taken


def grid_with_jitter(pictures: int, rng: random.Random) -> list[int]:
    """The pictures the sampling before took: a grid from a random start, each up to 0.06 s late."""
    taken, grid, due = [], None, None
    for index in range(pictures):
        time = index / FPS
        if due is not None and time < due:
            continue
        grid = time + rng.uniform(0, SAMPLE_EVERY) if grid is None else grid + SAMPLE_EVERY
        due = grid + rng.uniform(0, OLD_JITTER)
        taken.append(index)
    return taken


def measure(sample, seconds: float, clips: int, seed: int) -> tuple[float, float]:
    rng = random.Random(seed)
    missed = taken = 0
    for _ in range(clips):
        pictures = sample(round(seconds * FPS), rng)
        taken += len(pictures)
        missed += all(index % PERIOD == 0 for index in pictures)
    return missed / clips, taken / clips / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for seconds in (2.0, 3.0):
        missed, rate = measure(drifting, seconds, args.clips, args.seed)
        old_missed, old_rate = measure(grid_with_jitter, seconds, args.clips, args.seed)
        print(f"bench-sampling: seconds={seconds:g} clips={args.clips} "
              f"missed_drifting={missed:.2e} missed_grid={old_missed:.2e} "
              f"samples_per_s={rate:.2f} (grid {old_rate:.2f})", flush=True)


if __name__ == "__main__":
    main()
