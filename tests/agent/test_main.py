"""``python -m agent`` rebinds its port at once after a crash, and says what to do when it is really taken."""

import socket

from agent.__main__ import _cannot_bind


def _port_in_time_wait() -> int:
    """A loopback port whose server side closed first, so the kernel holds it in TIME_WAIT."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: that end enters TIME_WAIT
    client.recv(1)
    client.close()
    server.close()
    return port


def test_a_port_left_in_time_wait_by_a_crashed_agent_is_free_at_once() -> None:
    port = _port_in_time_wait()
    with socket.socket() as plain:  # what the check did before: it failed for about a minute
        try:
            plain.bind(("127.0.0.1", port))
            time_wait_blocks_plain_bind = False
        except OSError:
            time_wait_blocks_plain_bind = True

    assert time_wait_blocks_plain_bind
    assert _cannot_bind("127.0.0.1", port) is None


def test_a_port_another_process_listens_on_is_reported() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        assert _cannot_bind("127.0.0.1", port)
