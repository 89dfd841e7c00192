using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>A request as the backend received it: the head verbatim and the decoded body.</summary>
public sealed class BackendRequest
{
    public required string RawHead { get; init; }
    public required string Method { get; init; }
    public required string Target { get; init; }
    public required string Version { get; init; }
    public required List<KeyValuePair<string, string>> Headers { get; init; }
    public byte[] Body { get; set; } = [];
    public bool WasChunked { get; init; }
    public int ConnectionIndex { get; init; }

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

    public int HeaderCount(string name)
    {
        int n = 0;
        foreach (var h in Headers)
        {
            if (string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                n++;
            }
        }
        return n;
    }
}

/// <summary>The backend side of one connection, for handlers that write raw bytes.</summary>
public sealed class BackendConnection(Socket socket, Stream stream, BufferedReader reader, int index)
{
    public Socket Socket { get; } = socket;

    /// <summary>The connection's reader (a handler that takes over after a 101 keeps reading from it).</summary>
    public BufferedReader Reader { get; } = reader;
    public Stream Stream { get; } = stream;
    public int Index { get; } = index;

    /// <summary>Set by a handler to close the connection after its response.</summary>
    public bool CloseAfterResponse { get; set; }

    public Task WriteAsync(string text) => WriteAsync(Encoding.Latin1.GetBytes(text));

    public async Task WriteAsync(byte[] bytes)
    {
        await Stream.WriteAsync(bytes);
        await Stream.FlushAsync();
    }

    /// <summary>A complete response with Content-Length.</summary>
    public Task RespondAsync(int status, string body, string extraHeaders = "") =>
        RespondAsync(status, Encoding.UTF8.GetBytes(body), extraHeaders);

    public async Task RespondAsync(int status, byte[] body, string extraHeaders = "")
    {
        var head = $"HTTP/1.1 {status} X\r\nContent-Length: {body.Length}\r\n{extraHeaders}\r\n";
        await Stream.WriteAsync(Encoding.Latin1.GetBytes(head));
        await Stream.WriteAsync(body);
        await Stream.FlushAsync();
    }

    /// <summary>Resets the connection (RST) instead of closing it cleanly.</summary>
    public void Abort()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }
}

/// <summary>
/// A scriptable HTTP/1.1 origin on 127.0.0.1 over raw sockets: it reads each request (head verbatim, body decoded
/// from Content-Length or chunked) and hands it to a handler that answers however the test needs (well-formed,
/// malformed, slow, cut short, a 101 and a WebSocket echo...). It counts accepted connections.
/// </summary>
public sealed class TestBackend : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<BackendRequest, BackendConnection, Task> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Socket> _sockets = [];
    private readonly Task _acceptLoop;
    private readonly bool _readBodies;
    private int _accepts;
    private int _closed;

    /// <param name="readBodies">False: the handler runs as soon as the head arrived, the body is left unread.</param>
    /// <param name="port">0 for any free port; a fixed one to bring a stopped backend back on its port.</param>
    public TestBackend(Func<BackendRequest, BackendConnection, Task> handler, bool readBodies = true, int port = 0)
    {
        _handler = handler;
        _readBodies = readBodies;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // A backend brought back on the port of one that was stopped (its closed connections may be in TIME_WAIT).
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        _listener.Listen(128);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>A backend that answers 200 with the request head it received as the body.</summary>
    public static TestBackend Echo(int port = 0) => new((request, connection) => connection.RespondAsync(200, request.RawHead, "Content-Type: text/plain\r\n"), port: port);

    public IPEndPoint EndPoint { get; }

    public int Port => EndPoint.Port;

    public string Address => $"127.0.0.1:{Port}";

    public int Accepts => Volatile.Read(ref _accepts);

    /// <summary>Connections that ended (the peer closed, or the handler asked to close).</summary>
    public int Closed => Volatile.Read(ref _closed);

    public ConcurrentQueue<BackendRequest> Requests { get; } = new();

    /// <summary>Completes when <paramref name="count"/> requests have arrived (or throws after the timeout).</summary>
    public async Task WaitForRequestsAsync(int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (Requests.Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"expected {count} requests, got {Requests.Count}");
            }
            await Task.Delay(10);
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            int index = Interlocked.Increment(ref _accepts);
            _sockets.Add(socket);
            _ = Task.Run(() => ServeAsync(socket, index));
        }
    }

    private async Task ServeAsync(Socket socket, int index)
    {
        using var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = new BufferedReader(stream);
        var connection = new BackendConnection(socket, stream, reader, index);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var request = await ReadRequestAsync(reader, index, _readBodies);
                if (request is null)
                {
                    return;
                }
                Requests.Enqueue(request);
                await _handler(request, connection);
                if (connection.CloseAfterResponse || !socket.Connected)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Increment(ref _closed);
        }
    }

    internal static async Task<BackendRequest?> ReadRequestAsync(BufferedReader reader, int index, bool readBody = true)
    {
        var head = await reader.ReadHeadAsync();
        if (head is null)
        {
            return null;
        }
        var lines = head.Split("\r\n");
        var parts = lines[0].Split(' ');
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
        var request = new BackendRequest
        {
            RawHead = head,
            Method = parts[0],
            Target = parts[1],
            Version = parts[2],
            Headers = headers,
            WasChunked = headers.Exists(h => h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && h.Value.Contains("chunked")),
            ConnectionIndex = index,
        };
        var cl = request.Header("Content-Length");
        if (!readBody)
        {
            return request;
        }
        if (request.WasChunked)
        {
            request.Body = await reader.ReadChunkedAsync();
        }
        else if (cl is not null)
        {
            request.Body = await reader.ReadExactlyAsync(int.Parse(cl));
        }
        return request;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var socket in _sockets)
        {
            try
            {
                socket.Dispose();
            }
            catch (ObjectDisposedException)
            {
            }
        }
        await _acceptLoop;
    }
}
