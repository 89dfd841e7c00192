using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>A response as a raw client read it.</summary>
public sealed class RawResponse
{
    public required string RawHead { get; init; }
    public required int Status { get; init; }
    public required List<KeyValuePair<string, string>> Headers { get; init; }
    public byte[] Body { get; set; } = [];
    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name)
    {
        foreach (var h in Headers)
        {
            if (string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return h.Value;
            }
        }
        return null;
    }

    public int HeaderCount(string name) => Headers.Count(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// A client over a raw socket, so that tests control every byte (pipelining, malformed requests, slow heads) and see
/// every byte of the answer. Every read has a timeout: a test never hangs.
/// </summary>
public sealed class RawClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    private RawClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        Reader = new BufferedReader(_stream);
    }

    public BufferedReader Reader { get; }

    public Socket Socket => _socket;

    public static async Task<RawClient> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(endPoint, cts.Token);
        return new RawClient(socket);
    }

    /// <summary>Connects from <paramref name="source"/> (any of 127/8 on Linux: several client addresses on one host).</summary>
    public static async Task<RawClient> ConnectAsync(IPEndPoint endPoint, IPAddress source)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(source, 0));
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(endPoint, cts.Token);
        return new RawClient(socket);
    }

    public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await _stream.WriteAsync(bytes, cts.Token);
    }

    /// <summary>Reads one response; the body per its framing (none for HEAD and 1xx/204/304).</summary>
    public async Task<RawResponse> ReadResponseAsync(bool headRequest = false, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var head = await Reader.ReadHeadAsync(cts.Token) ?? throw new IOException("connection closed before a response");
        var response = Parse(head);
        if (headRequest || response.Status < 200 || response.Status is 204 or 304)
        {
            return response;
        }
        if (response.Header("Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true)
        {
            response.Body = await Reader.ReadChunkedAsync(cts.Token);
        }
        else if (response.Header("Content-Length") is { } cl)
        {
            response.Body = await Reader.ReadExactlyAsync(int.Parse(cl), cts.Token);
        }
        else
        {
            response.Body = (await Reader.ReadToEndAsync(cts.Token)).Data;
        }
        return response;
    }

    /// <summary>Reads a head only (the caller reads the body itself).</summary>
    public async Task<RawResponse> ReadHeadAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var head = await Reader.ReadHeadAsync(cts.Token) ?? throw new IOException("connection closed before a response");
        return Parse(head);
    }

    public static RawResponse Parse(string head)
    {
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1]);
        var headers = new List<KeyValuePair<string, string>>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0)
            {
                continue;
            }
            int colon = lines[i].IndexOf(':');
            headers.Add(new(lines[i][..colon], lines[i][(colon + 1)..].Trim()));
        }
        return new RawResponse { RawHead = head, Status = status, Headers = headers };
    }

    /// <summary>True when the server closed the connection (clean FIN or reset) within the timeout, with no more data.</summary>
    public async Task<bool> IsClosedAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            var (data, _) = await Reader.ReadToEndAsync(cts.Token);
            return data.Length == 0;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Everything until the server closes (with a timeout).</summary>
    public async Task<(byte[] Data, bool Reset)> ReadToEndAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        return await Reader.ReadToEndAsync(cts.Token);
    }

    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        return ValueTask.CompletedTask;
    }
}
