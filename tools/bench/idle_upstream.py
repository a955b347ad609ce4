"""A minimal implicit-TLS IMAP server for the idle-sessions workload: greets, answers every
tagged command with OK, and holds thousands of connections in one process. The sandbox's Dovecot
cannot be the upstream here: its login processes (high-security mode, one per connection, 100 at
most by default) turn the 101st waiting connection away.

Usage: idle_upstream.py CERT KEY PORT_FILE   (binds 127.0.0.1:0, writes the port to PORT_FILE)
"""

from __future__ import annotations

import asyncio
import os
import resource
import ssl
import sys


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(b"* OK [CAPABILITY IMAP4rev1] mailtap bench idle upstream ready\r\n")
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                break
            tag = line.split(b" ", 1)[0]
            if b"LOGOUT" in line.upper():
                writer.write(b"* BYE bye\r\n" + tag + b" OK LOGOUT completed\r\n")
                await writer.drain()
                break
            writer.write(tag + b" OK completed\r\n")
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main() -> None:
    cert, key, port_file = sys.argv[1:4]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.replace(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
