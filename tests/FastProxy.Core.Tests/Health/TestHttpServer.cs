using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FastProxy.Health.Tests;

/// <summary>A tiny HTTP/1.1 server on 127.0.0.1, port 0, answering every request the way <see cref="Mode"/> says.</summary>
internal sealed class TestHttpServer : IAsyncDisposable
{
    public enum Behaviour { Ok, ServerError, Hang, CloseWithoutAnswer, Garbage }

    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private TaskCompletionSource _requestArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _requests;

    public TestHttpServer(Behaviour behaviour = Behaviour.Ok)
    {
        Mode = behaviour;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = AcceptLoopAsync();
    }

    public IPEndPoint EndPoint { get; }

    public volatile Behaviour Mode;

    public int Requests => Volatile.Read(ref _requests);

    public string? LastRequest { get; private set; }

    /// <summary>Completes when the next request head has arrived (then re-arms).</summary>
    public Task RequestArrived => Volatile.Read(ref _requestArrived).Task;

    private async Task AcceptLoopAsync()
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                Socket client = await _listener.AcceptAsync(_stop.Token);
                connections.Add(ServeAsync(client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        await Task.WhenAll(connections);
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            try
            {
                var buffer = new byte[4096];
                int length = 0;
                while (buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) < 0)
                {
                    int read = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }
                    length += read;
                }
                LastRequest = Encoding.ASCII.GetString(buffer, 0, length);
                Interlocked.Increment(ref _requests);
                Interlocked.Exchange(ref _requestArrived, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

                string? answer = Mode switch
                {
                    Behaviour.Ok => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    Behaviour.ServerError => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    Behaviour.Garbage => "SSH-2.0-OpenSSH_9.6\r\n",
                    _ => null,
                };
                if (Mode == Behaviour.Hang)
                {
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                }
                if (answer is not null)
                {
                    await client.SendAsync(Encoding.ASCII.GetBytes(answer), SocketFlags.None, _stop.Token);
                }
                client.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
