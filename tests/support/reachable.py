"""Exit 0 when both PostgreSQL and Redis answer, 2 when neither does, 1 (with the reason)
otherwise."""

import socket
import sys
from urllib.parse import urlsplit


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
                (parts.hostname or "127.0.0.1", parts.port or default_port), 2):
            return True
    except OSError:
        return False


def main(pg_url: str, redis_url: str) -> int:
    pg, redis = _answers(pg_url, 5432), _answers(redis_url, 6379)
    if pg and redis:
        return 0
    if not pg and not redis:
        return 2
    print(f"PostgreSQL reachable: {pg}; Redis reachable: {redis} — both are needed for pass 2")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
