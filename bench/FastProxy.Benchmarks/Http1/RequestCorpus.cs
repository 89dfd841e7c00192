using System.Buffers;
using System.Text;

namespace FastProxy.Benchmarks.Http1;

/// <summary>
/// The heads and bodies the HTTP/1.1 benchmarks parse: a curl-like request, a typical browser navigation, a large
/// head (50 fields and a 4 KiB cookie), a typical response, and chunked bodies. Each is available as one segment and
/// as several (what a pipe hands over when a head straddles its buffers).
/// </summary>
public static class RequestCorpus
{
    public const string Small = nameof(Small);
    public const string Browser = nameof(Browser);
    public const string Large = nameof(Large);
    public const string Response = nameof(Response);

    public static readonly byte[] SmallHead = Ascii(
        "GET /index.html HTTP/1.1\r\n" +
        "Host: localhost:8080\r\n" +
        "User-Agent: curl/8.5.0\r\n" +
        "Accept: */*\r\n" +
        "\r\n");

    public static readonly byte[] BrowserHead = Ascii(
        "GET /articles/2024/http-parsing?utm_source=newsletter&page=2 HTTP/1.1\r\n" +
        "Host: www.example.com\r\n" +
        "Connection: keep-alive\r\n" +
        "Upgrade-Insecure-Requests: 1\r\n" +
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
        "Referer: https://www.example.com/\r\n" +
        "Accept-Encoding: gzip, deflate, br\r\n" +
        "Accept-Language: en-US,en;q=0.9\r\n" +
        "Cookie: session=4f1c2a9e7b; theme=dark\r\n" +
        "\r\n");

    public static readonly byte[] LargeHead = BuildLarge();

    public static readonly byte[] ResponseHead = Ascii(
        "HTTP/1.1 200 OK\r\n" +
        "Server: nginx/1.25.3\r\n" +
        "Date: Mon, 06 May 2024 10:00:00 GMT\r\n" +
        "Content-Type: text/html; charset=utf-8\r\n" +
        "Content-Length: 612\r\n" +
        "Last-Modified: Tue, 24 Oct 2023 13:46:47 GMT\r\n" +
        "Connection: keep-alive\r\n" +
        "ETag: \"6537cac7-264\"\r\n" +
        "Cache-Control: max-age=3600\r\n" +
        "Accept-Ranges: bytes\r\n" +
        "\r\n");

    /// <summary>64 KiB of data in 4 KiB chunks (what a server streaming a file sends).</summary>
    public static readonly byte[] ChunkedLarge = BuildChunked(64 * 1024, 4096, extension: "");

    /// <summary>4 KiB of data in 64-byte chunks with an extension each: the framing dominates.</summary>
    public static readonly byte[] ChunkedSmall = BuildChunked(4 * 1024, 64, extension: ";n=v");

    public static byte[] Head(string name) => name switch
    {
        Small => SmallHead,
        Browser => BrowserHead,
        Large => LargeHead,
        Response => ResponseHead,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    /// <summary>The same bytes in segments of <paramref name="segmentSize"/> bytes.</summary>
    public static ReadOnlySequence<byte> MultiSegment(byte[] data, int segmentSize)
    {
        Segment first = new(data.AsMemory(0, Math.Min(segmentSize, data.Length)), 0);
        Segment last = first;
        for (int offset = segmentSize; offset < data.Length; offset += segmentSize)
        {
            last = last.Append(data.AsMemory(offset, Math.Min(segmentSize, data.Length - offset)));
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private static byte[] BuildLarge()
    {
        var s = new StringBuilder();
        s.Append("POST /api/v2/accounts/12345/orders?expand=items&include=shipping HTTP/1.1\r\n");
        s.Append("Host: api.example.com\r\n");
        s.Append("Content-Type: application/json\r\n");
        s.Append("Content-Length: 1024\r\n");
        for (int i = 0; i < 46; i++) // with Host, Content-Type, Content-Length and Cookie: 50 fields
        {
            s.Append($"X-Custom-Header-{i:D2}: value-{i:D2}-abcdefghijklmnopqrstuvwxyz0123456789\r\n");
        }
        s.Append("Cookie: ");
        for (int i = 0; i < 4096 / 32; i++)
        {
            s.Append($"c{i:D3}=0123456789abcdef0123456789; ");
        }
        s.Length -= 2;
        s.Append("\r\n\r\n");
        return Ascii(s.ToString());
    }

    private static byte[] BuildChunked(int total, int chunkSize, string extension)
    {
        var bytes = new List<byte>();
        byte[] data = Enumerable.Range(0, chunkSize).Select(i => (byte)('a' + (i % 26))).ToArray();
        for (int written = 0; written < total; written += chunkSize)
        {
            bytes.AddRange(Ascii($"{chunkSize:x}{extension}\r\n"));
            bytes.AddRange(data);
            bytes.AddRange("\r\n"u8.ToArray());
        }
        bytes.AddRange("0\r\n\r\n"u8.ToArray());
        return bytes.ToArray();
    }

    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
