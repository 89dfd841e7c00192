using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using FastProxy.Transport.Epoll;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Transport.Tests;

/// <summary><see cref="EpollListener"/>: accepting on the loops, and stopping.</summary>
public class EpollListenerTests
{
    private static readonly TimeSpan Bound = EpollPair.Bound;

    [EpollFact]
    public async Task Bind_PortZero_BoundEndPointHasTheRealPort()
    {
        var config = new IPEndPoint(IPAddress.Loopback, 0);
        var listener = EpollListener.Bind(config, NullLogger.Instance);
        await listener.StopAsync();

        Assert.Equal(config, listener.ConfigEndPoint);
        Assert.Equal(IPAddress.Loopback, listener.BoundEndPoint.Address);
        Assert.NotEqual(0, listener.BoundEndPoint.Port);
    }

    [EpollFact]
    public void CreateListeningSocket_AcceptedConnection_StartsWithDelayedAcks()
    {
        // TCP_QUICKACK reads 0 in delayed-ACK ("pingpong") mode; a new connection reads 1 unless the listener set it
        // off (tcp(7)), so the ACK of a client's first request rides on the response.
        using var listening = ConnectionListener.CreateListeningSocket(new IPEndPoint(IPAddress.Loopback, 0));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listening.LocalEndPoint!);
        using var accepted = listening.Accept();
        var value = new byte[4];

        accepted.GetRawSocketOption(LinuxInterop.IPPROTO_TCP, LinuxInterop.TCP_QUICKACK, value);

        Assert.Equal(ConnectionListener.DelayFirstAck ? 0 : 1, BitConverter.ToInt32(value));
        client.GetRawSocketOption(LinuxInterop.IPPROTO_TCP, LinuxInterop.TCP_QUICKACK, value);
        Assert.Equal(1, BitConverter.ToInt32(value)); // the kernel's default, for contrast
    }

    [EpollFact]
    public async Task Start_ManyConcurrentConnects_AllAccepted()
    {
        const int Count = 200;
        var listener = EpollListener.Bind(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
        var accepted = new ConcurrentQueue<EpollConnection>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.Start((connection, from) =>
        {
            Assert.Same(listener, from);
            accepted.Enqueue((EpollConnection)connection);
            if (accepted.Count == Count)
            {
                all.TrySetResult();
            }
        });
        var clients = Enumerable.Range(0, Count).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToArray();
        try
        {
            await Task.WhenAll(clients.Select(c => c.ConnectAsync(listener.BoundEndPoint))).WaitAsync(Bound);
            await all.Task.WaitAsync(Bound);

            Assert.Equal(Count, accepted.Count);
            var expected = clients.Select(c => c.LocalEndPoint!.ToString()).Order().ToArray();
            var actual = accepted.Select(c => c.RemoteEndPoint!.ToString()).Order().ToArray();
            Assert.Equal(expected, actual);
            // Every accepted connection works (the loops serve them all).
            foreach (var client in clients)
            {
                client.Send(BitConverter.GetBytes(((IPEndPoint)client.LocalEndPoint!).Port));
            }
            foreach (var connection in accepted)
            {
                var result = await connection.Input.ReadAsync().AsTask().WaitAsync(Bound);
                while (result.Buffer.Length < 4)
                {
                    connection.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    result = await connection.Input.ReadAsync().AsTask().WaitAsync(Bound);
                }
                Assert.Equal(connection.RemoteEndPoint!.Port, BitConverter.ToInt32(result.Buffer.ToArray()));
                connection.Input.AdvanceTo(result.Buffer.End);
            }
        }
        finally
        {
            await listener.StopAsync();
            foreach (var client in clients)
            {
                client.Dispose();
            }
            foreach (var connection in accepted)
            {
                await connection.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask().WaitAsync(Bound);
            }
        }
    }

    [EpollFact]
    public async Task StopAsync_AfterAccepting_RefusesNewConnectsAndKeepsEstablishedOnes()
    {
        var listener = EpollListener.Bind(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
        var accepted = new TaskCompletionSource<EpollConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        int acceptCount = 0;
        listener.Start((connection, _) =>
        {
            Interlocked.Increment(ref acceptCount);
            accepted.TrySetResult((EpollConnection)connection);
        });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.BoundEndPoint).WaitAsync(Bound);
        var connection = await accepted.Task.WaitAsync(Bound);
        try
        {
            await listener.StopAsync().WaitAsync(Bound);

            // Refused, normally. Tests run in parallel and bind port 0, so the freed port may already belong to another
            // test's listener (then the connect succeeds there, or is reset when that one closes): what matters is
            // that this listener accepted nothing more.
            using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await late.ConnectAsync(listener.BoundEndPoint).WaitAsync(Bound);
            }
            catch (SocketException)
            {
            }
            Assert.Equal(1, Volatile.Read(ref acceptCount));

            // The established connection still works both ways.
            client.Send("hello"u8);
            var result = await connection.Input.ReadAsync().AsTask().WaitAsync(Bound);
            while (result.Buffer.Length < 5)
            {
                connection.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                result = await connection.Input.ReadAsync().AsTask().WaitAsync(Bound);
            }
            Assert.Equal("hello"u8.ToArray(), result.Buffer.ToArray());
            connection.Input.AdvanceTo(result.Buffer.End);
            connection.Output.Write("world"u8);
            await connection.Output.FlushAsync().AsTask().WaitAsync(Bound);
            var buffer = new byte[5];
            using var timeout = new CancellationTokenSource(Bound);
            int got = 0;
            while (got < 5)
            {
                got += await client.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, timeout.Token);
            }
            Assert.Equal("world"u8.ToArray(), buffer);
        }
        finally
        {
            await connection.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask().WaitAsync(Bound);
        }
    }

    [EpollFact]
    public async Task StopAsync_DuringAnAcceptBatch_NothingAcceptedAfterwards()
    {
        var listener = EpollListener.Bind(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
        var inCallback = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();
        var accepted = new ConcurrentQueue<TransportConnection>();
        listener.Start((connection, _) =>
        {
            accepted.Enqueue(connection);
            if (accepted.Count == 1)
            {
                // Holds the loop inside its accept batch while the test stops the listener.
                inCallback.TrySetResult();
                release.Wait(Bound);
            }
        });
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await first.ConnectAsync(listener.BoundEndPoint).WaitAsync(Bound);
            await inCallback.Task.WaitAsync(Bound);

            var stopping = listener.StopAsync();
            // The listening descriptor stays open until the batch ends, so the kernel completes this handshake.
            await late.ConnectAsync(listener.BoundEndPoint).WaitAsync(Bound);
            release.Set();
            await stopping.WaitAsync(Bound);

            // The late connection was queued, never accepted: closing the listener resets it.
            using var timeout = new CancellationTokenSource(Bound);
            var reset = await Assert.ThrowsAsync<SocketException>(async () => await late.ReceiveAsync(new byte[1], SocketFlags.None, timeout.Token));
            Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
            Assert.Single(accepted);
        }
        finally
        {
            release.Set();
            await listener.StopAsync();
            foreach (var connection in accepted)
            {
                await connection.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask().WaitAsync(Bound);
            }
        }
    }

    [EpollFact]
    public async Task StopAsync_Twice_Harmless()
    {
        var listener = EpollListener.Bind(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
        listener.Start((connection, _) => { });

        await listener.StopAsync().WaitAsync(Bound);
        await listener.StopAsync().WaitAsync(Bound);

        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(() => late.ConnectAsync(listener.BoundEndPoint).WaitAsync(Bound));
    }
}
