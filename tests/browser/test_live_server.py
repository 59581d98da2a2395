"""The browser tests' live server: what it does to the app's responses."""

from tests.browser.conftest import WholeResponses


class Body:
    """A response body that notes whether the server closed it, as a file sent by Flask does."""

    def __init__(self):
        self.closed = False

    def __iter__(self):
        yield b"first "
        yield b"second"

    def close(self):
        self.closed = True


def test_a_response_is_read_whole_and_closed_before_the_server_writes_it():
    body = Body()
    statuses = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    sent = WholeResponses(app)({}, lambda status, headers: statuses.append(status))
    assert body.closed  # a dropped connection can no longer leave it open
    assert sent == [b"first second"]
    assert statuses == ["200 OK"]
