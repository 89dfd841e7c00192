using System.Buffers;
using System.Net;
using System.Net.Sockets;
using FastProxy.Transport.Epoll;
using static FastProxy.Transport.Tests.EpollPipeReaderTests;
using static FastProxy.Transport.Tests.EpollTestData;

namespace FastProxy.Transport.Tests;

/// <summary><see cref="EpollConnection"/>'s connect, addresses, kernel peek and close, over real sockets.</summary>
public class EpollConnectionTests
{
    private static readonly TimeSpan Bound = EpollPair.Bound;

    // ---- Connect --------------------------------------------------------------------------------------------------

    [EpollFact]
    public async Task ConnectAsync_NoListener_ReturnsConnectionRefused()
    {
        // A bound socket that does not listen holds the port, so nothing else can listen there meanwhile.
        using var bound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        bound.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var connection = EpollConnection.Outbound(AddressFamily.InterNetwork);

        var result = await connection.ConnectAsync((IPEndPoint)bound.LocalEndPoint!).AsTask().WaitAsync(Bound);
        await connection.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask().WaitAsync(Bound);

        Assert.True(result.HasError);
        Assert.Equal(SocketError.ConnectionRefused, result.Error);
    }

    [EpollFact]
    public async Task ConnectAsync_Listening_SucceedsAndCarriesBytesBothWays()
    {
        await using var pair = await EpollPair.ConnectAsync();

        pair.Output.Write("ping"u8);
        await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
        Assert.Equal("ping"u8.ToArray(), await pair.ReceiveExactlyAsync(4));
        await pair.SendAsync("pong"u8.ToArray());
        Assert.Equal("pong"u8.ToArray(), await pair.ReadExactlyAsync(4));
        Assert.False(pair.Connection.ReceivedFin);
        Assert.False(pair.Connection.IsAborted);
    }

    [EpollFact]
    public async Task ConnectAsync_AbortedWhileConnecting_CompletesWithOperationAborted()
    {
        // listen(0) queues one connection; while it is not accepted, the kernel drops further SYNs and the next
        // connect stays in progress (it would retry for minutes).
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        using var queued = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await queued.ConnectAsync(endPoint).WaitAsync(Bound);
        Assert.True(listener.Poll(Bound, SelectMode.SelectRead)); // its handshake is done: the queue is full
        var connection = EpollConnection.Outbound(AddressFamily.InterNetwork);

        var connect = connection.ConnectAsync(endPoint);
        Assert.False(connect.IsCompleted);
        await Task.Run(connection.Abort);
        var result = await connect.AsTask().WaitAsync(Bound);
        await connection.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask().WaitAsync(Bound);

        Assert.Equal(SocketError.OperationAborted, result.Error);
    }

    [EpollIPv6Fact]
    public async Task ConnectAsync_IPv6ToEpollListener_ConnectsAndReadsAddresses()
    {
        var listener = EpollListener.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var accepted = new TaskCompletionSource<EpollConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.Start((connection, _) => accepted.TrySetResult((EpollConnection)connection));
        var outbound = EpollConnection.Outbound(AddressFamily.InterNetworkV6);
        EpollConnection? inbound = null;
        try
        {
            var result = await outbound.ConnectAsync(listener.BoundEndPoint).AsTask().WaitAsync(Bound);
            Assert.Equal(SocketError.Success, result.Error);
            inbound = await accepted.Task.WaitAsync(Bound);

            Assert.Equal(listener.BoundEndPoint, inbound.LocalEndPoint);
            Assert.Equal(IPAddress.IPv6Loopback, inbound.RemoteEndPoint!.Address);
            Assert.NotEqual(0, inbound.RemoteEndPoint.Port);
            // Epoll at both ends.
            outbound.Output.Write("over v6"u8);
            await outbound.Output.FlushAsync().AsTask().WaitAsync(Bound);
            var read = await inbound.Input.ReadAsync().AsTask().WaitAsync(Bound);
            while (read.Buffer.Length < 7)
            {
                inbound.Input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                read = await inbound.Input.ReadAsync().AsTask().WaitAsync(Bound);
            }
            Assert.Equal("over v6"u8.ToArray(), read.Buffer.ToArray());
            inbound.Input.AdvanceTo(read.Buffer.End);
        }
        finally
        {
            await listener.StopAsync().WaitAsync(Bound);
            await outbound.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask().WaitAsync(Bound);
            if (inbound is not null)
            {
                await inbound.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask().WaitAsync(Bound);
            }
        }
    }

    // ---- Addresses and the kernel peek ----------------------------------------------------------------------------

    [EpollFact]
    public async Task Accepted_EndPoints_AreThePeersAddresses()
    {
        await using var pair = await EpollPair.AcceptAsync();

        Assert.Equal(pair.Peer.LocalEndPoint, pair.Connection.RemoteEndPoint);
        Assert.Equal(pair.Peer.RemoteEndPoint, pair.Connection.LocalEndPoint);
        Assert.Equal(IPAddress.Loopback, pair.Connection.RemoteEndPoint!.Address);
    }

    [EpollTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HasKernelInput_BytesWaiting_TrueUntilRead(bool inbound)
    {
        await using var pair = await EpollPair.CreateAsync(inbound);
        Assert.False(pair.Connection.HasKernelInput());

        await pair.SendAsync("abc"u8.ToArray());
        await WaitUntilAsync(pair.Connection.HasKernelInput);
        Assert.True(pair.Connection.HasKernelInput()); // a peek: the bytes stay

        Assert.Equal("abc"u8.ToArray(), await pair.ReadExactlyAsync(3));
        Assert.False(pair.Connection.HasKernelInput());
    }

    // ---- Close ----------------------------------------------------------------------------------------------------

    [EpollFact]
    public async Task CloseAsync_BufferedBytes_SentBeforeFin()
    {
        await using var pair = await EpollPair.ConnectAsync();
        var (local, remote) = pair.TransportAddresses;
        const int Size = 1024 * 1024;
        WritePattern(pair.Output, 0, Size); // never flushed: the close sends it

        var closing = pair.Connection.CloseAsync(Bound, TimeSpan.Zero).AsTask();
        var received = await pair.ReceiveToEndAsync();
        await closing.WaitAsync(Bound);

        Assert.Equal(Size, received.Length);
        Assert.Equal(-1, FirstMismatch(received));
        Assert.False(pair.Connection.IsAborted);
        Assert.False(HasDescriptor(local, remote));
    }

    [EpollFact]
    public async Task CloseAsync_NoLinger_DescriptorClosedAndPeerGetsFin()
    {
        await using var pair = await EpollPair.AcceptAsync();
        var (local, remote) = pair.TransportAddresses;
        Assert.True(HasDescriptor(local, remote));

        await pair.Connection.CloseAsync(Bound, TimeSpan.Zero).AsTask().WaitAsync(Bound);

        Assert.False(HasDescriptor(local, remote));
        Assert.Empty(await pair.ReceiveToEndAsync());
    }

    [EpollFact]
    public async Task CloseAsync_PeerKeepsSending_LingersUntilPeerFin()
    {
        await using var pair = await EpollPair.ConnectAsync();
        var (local, remote) = pair.TransportAddresses;
        pair.Output.Write("answer"u8);

        var closing = pair.Connection.CloseAsync(Bound, TimeSpan.FromMinutes(5)).AsTask();
        // Our answer and FIN come while the close lingers: the peer may keep sending.
        Assert.Equal("answer"u8.ToArray(), await pair.ReceiveToEndAsync());
        Assert.False(closing.IsCompleted);

        // More than every kernel buffer on the way can hold (tcp_rmem's maximum is 32 MiB here): it all goes
        // through only if the lingering close reads and drops it.
        var chunk = new byte[1024 * 1024];
        for (int i = 0; i < 48; i++)
        {
            await pair.SendAsync(chunk);
        }
        Assert.False(closing.IsCompleted);
        Assert.True(HasDescriptor(local, remote));

        pair.Peer.Shutdown(SocketShutdown.Send);
        await closing.WaitAsync(Bound);

        Assert.False(HasDescriptor(local, remote));
    }

    [EpollFact]
    public async Task CloseAsync_LingerExpires_Completes()
    {
        await using var pair = await EpollPair.ConnectAsync();
        var (local, remote) = pair.TransportAddresses;

        await pair.Connection.CloseAsync(Bound, TimeSpan.FromMilliseconds(50)).AsTask().WaitAsync(Bound);

        Assert.False(HasDescriptor(local, remote));
        Assert.Empty(await pair.ReceiveToEndAsync());
    }

    [EpollFact]
    public async Task CloseAsync_PeerNotReadingAndFlushTimeout_AbortsAndCompletes()
    {
        await using var pair = await EpollPair.ConnectAsync(peerReceiveBuffer: 4096);
        var (local, remote) = pair.TransportAddresses;
        WritePattern(pair.Output, 0, 64 * 1024 * 1024, piece: 1024 * 1024);

        await pair.Connection.CloseAsync(TimeSpan.FromMilliseconds(50), TimeSpan.FromMinutes(5)).AsTask().WaitAsync(Bound);

        Assert.True(pair.Connection.IsAborted);
        Assert.False(HasDescriptor(local, remote));
    }

    [EpollFact]
    public async Task CloseAsync_Twice_SecondReturnsAndAbortAfterIsHarmless()
    {
        await using var pair = await EpollPair.ConnectAsync();
        var (local, remote) = pair.TransportAddresses;

        var first = pair.Connection.CloseAsync(Bound, TimeSpan.FromMinutes(5)).AsTask();
        await pair.Connection.CloseAsync(Bound, TimeSpan.FromMinutes(5)).AsTask().WaitAsync(Bound); // while the first lingers
        Assert.False(first.IsCompleted);
        pair.Peer.Shutdown(SocketShutdown.Send);
        await first.WaitAsync(Bound);
        await pair.Connection.CloseAsync(Bound, TimeSpan.Zero).AsTask().WaitAsync(Bound);
        pair.Connection.Abort();
        pair.Connection.AbortSend();

        Assert.False(pair.Connection.HasKernelInput());
        Assert.False(HasDescriptor(local, remote));
        Assert.Empty(await pair.ReceiveToEndAsync());
    }

    [EpollFact]
    public async Task CloseAsync_AfterAbort_ClosesDescriptor()
    {
        await using var pair = await EpollPair.AcceptAsync();
        var (local, remote) = pair.TransportAddresses;

        await Task.Run(pair.Connection.Abort);
        await pair.Connection.CloseAsync(Bound, TimeSpan.FromMinutes(5)).AsTask().WaitAsync(Bound);

        Assert.False(HasDescriptor(local, remote));
    }
}
