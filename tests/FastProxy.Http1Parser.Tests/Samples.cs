namespace FastProxy.Http1.Tests;

/// <summary>Valid heads used by the prefix, split and mutation tests.</summary>
internal static class Samples
{
    public const string Browser =
        "GET /articles/2024/http-parsing?utm_source=newsletter&page=2 HTTP/1.1\r\n" +
        "Host: www.example.com\r\n" +
        "Connection: keep-alive\r\n" +
        "sec-ch-ua: \"Chromium\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n" +
        "sec-ch-ua-mobile: ?0\r\n" +
        "Upgrade-Insecure-Requests: 1\r\n" +
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
        "Sec-Fetch-Mode: navigate\r\n" +
        "Referer: https://www.example.com/\r\n" +
        "Accept-Encoding: gzip, deflate, br, zstd\r\n" +
        "Accept-Language: en-US,en;q=0.9\r\n" +
        "Cookie: session=abc123; theme=dark\r\n" +
        "\r\n";

    public static readonly string[] Requests =
    [
        "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "GET /index.html?x=1&y=2 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
        "POST /api/items HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n",
        "PUT /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        "GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        "GET /%E2%82%AC HTTP/1.1\r\nHost: [::1]:80\r\nX-Empty:\r\nX-Tab:\tv1\t v2 \t\r\nX-Obs: caf\xe9 \xff\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "PURGE /cache HTTP/1.1\r\nhost: x\r\nConnection: close, X-Private\r\nX-Private: 1\r\n\r\n",
        Browser,
    ];

    public static readonly string[] Responses =
    [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.0 200\r\nServer: x\r\n\r\n",
        "HTTP/1.1 404 \r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx/1.25.3\r\nDate: Mon, 06 May 2024 10:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\n" +
        "Content-Length: 612\r\nLast-Modified: Tue, 24 Oct 2023 13:46:47 GMT\r\nConnection: keep-alive\r\nETag: \"6537cac7-264\"\r\nAccept-Ranges: bytes\r\n\r\n",
    ];

    public static readonly string[] ChunkedBodies =
    [
        "5\r\nhello\r\n0\r\n\r\n",
        "5;a=b;c=\"x y\\\"z\"\r\nhello\r\n6 ; n = v \t;m\r\n world\r\n0;last\r\nTrailer-One: v\r\nX: \t\r\n\r\n",
        "A\r\n0123456789\r\na\r\nabcdefghij\r\n000\r\n\r\n",
        "0005\r\n12345\r\n1\r\n\n\r\n0\r\n\r\n",
        "0\r\n\r\n",
    ];
}
