using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using FastProxy.Transport.Epoll;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Transport.Tests;

/// <summary>A fact that runs where the epoll transport does (Linux x86-64) and is reported skipped elsewhere.</summary>
public sealed class EpollFactAttribute : FactAttribute
{
    public EpollFactAttribute()
    {
        if (!LinuxInterop.IsSupported)
        {
            Skip = "the epoll transport runs on Linux x86-64 only";
        }
    }
}

/// <summary>A theory that runs where the epoll transport does (Linux x86-64) and is reported skipped elsewhere.</summary>
public sealed class EpollTheoryAttribute : TheoryAttribute
{
    public EpollTheoryAttribute()
    {
        if (!LinuxInterop.IsSupported)
        {
            Skip = "the epoll transport runs on Linux x86-64 only";
        }
    }
}

/// <summary>An <see cref="EpollFactAttribute"/> that also needs the IPv6 loopback address (some containers have none).</summary>
public sealed class EpollIPv6FactAttribute : FactAttribute
{
    private static readonly Lazy<bool> s_loopbackV6 = new(() =>
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    });

    public EpollIPv6FactAttribute()
    {
        if (!LinuxInterop.IsSupported)
        {
            Skip = "the epoll transport runs on Linux x86-64 only";
        }
        else if (!s_loopbackV6.Value)
        {
            Skip = "no IPv6 loopback address here";
        }
    }
}

/// <summary>
/// One <see cref="EpollConnection"/> and the plain <see cref="Socket"/> at its other end, on 127.0.0.1. Disposing
/// aborts and closes both; a test awaits its own pending reads and flushes first (close must not race them).
/// </summary>
internal sealed class EpollPair : IAsyncDisposable
{
    /// <summary>Every wait on the network is bounded by this; nothing sleeps to synchronise.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private EpollPair(EpollConnection connection, Socket peer)
    {
        Connection = connection;
        Peer = peer;
    }

    public EpollConnection Connection { get; }

    public Socket Peer { get; }

    public PipeReader Input => Connection.Input;

    public PipeWriter Output => Connection.Output;

    /// <summary>An outbound connection (Outbound + ConnectAsync) to a plain listening socket.</summary>
    public static async Task<EpollPair> ConnectAsync(int peerReceiveBuffer = 0)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (peerReceiveBuffer > 0)
        {
            // Inherited by the accepted socket; set before the handshake so the window is small from the start.
            listener.ReceiveBufferSize = peerReceiveBuffer;
        }
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var accept = listener.AcceptAsync();
        var connection = EpollConnection.Outbound(AddressFamily.InterNetwork);
        var result = await connection.ConnectAsync((IPEndPoint)listener.LocalEndPoint!).AsTask().WaitAsync(Bound);
        Assert.Equal(SocketError.Success, result.Error);
        var peer = await accept.WaitAsync(Bound);
        peer.NoDelay = true;
        connection.Start();
        return new EpollPair(connection, peer);
    }

    /// <summary>An inbound connection: a plain client socket connects to an <see cref="EpollListener"/>.</summary>
    public static async Task<EpollPair> AcceptAsync(int peerReceiveBuffer = 0)
    {
        var listener = EpollListener.Bind(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
        try
        {
            var accepted = new TaskCompletionSource<EpollConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
            listener.Start((connection, _) => accepted.TrySetResult((EpollConnection)connection));
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            if (peerReceiveBuffer > 0)
            {
                client.ReceiveBufferSize = peerReceiveBuffer; // before the handshake, so the window is small from the start
            }
            await client.ConnectAsync(listener.BoundEndPoint).WaitAsync(Bound);
            var connection = await accepted.Task.WaitAsync(Bound);
            connection.Start();
            return new EpollPair(connection, client);
        }
        finally
        {
            await listener.StopAsync();
        }
    }

    /// <summary>Outbound or inbound, for theories that run the same contract over both.</summary>
    public static Task<EpollPair> CreateAsync(bool inbound) => inbound ? AcceptAsync() : ConnectAsync();

    public async ValueTask DisposeAsync()
    {
        Peer.Dispose();
        Connection.Abort();
        await Connection.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask().WaitAsync(Bound);
    }

    // ---- The transport's side -------------------------------------------------------------------------------------

    public async Task<ReadResult> ReadAsync() => await Input.ReadAsync().AsTask().WaitAsync(Bound);

    /// <summary>Reads exactly <paramref name="count"/> bytes (consuming them); fails if the input ends first.</summary>
    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        var bytes = new byte[count];
        int got = 0;
        while (got < count)
        {
            var result = await ReadAsync();
            var buffer = result.Buffer;
            int take = (int)Math.Min(buffer.Length, count - got);
            buffer.Slice(0, take).CopyTo(bytes.AsSpan(got));
            got += take;
            Input.AdvanceTo(buffer.GetPosition(take));
            Assert.False(got < count && result.IsCompleted, $"input ended after {got} of {count} bytes");
        }
        return bytes;
    }

    /// <summary>Reads until the input reports IsCompleted; returns everything read.</summary>
    public async Task<byte[]> ReadToEndAsync()
    {
        var all = new ArrayBufferWriter<byte>();
        while (true)
        {
            var result = await ReadAsync();
            foreach (var segment in result.Buffer)
            {
                all.Write(segment.Span);
            }
            Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return all.WrittenSpan.ToArray();
            }
        }
    }

    // ---- The peer's side ------------------------------------------------------------------------------------------

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        using var timeout = new CancellationTokenSource(Bound);
        while (!bytes.IsEmpty)
        {
            int sent = await Peer.SendAsync(bytes, SocketFlags.None, timeout.Token);
            bytes = bytes[sent..];
        }
    }

    public async Task<byte[]> ReceiveExactlyAsync(int count)
    {
        using var timeout = new CancellationTokenSource(Bound);
        var bytes = new byte[count];
        int got = 0;
        while (got < count)
        {
            int read = await Peer.ReceiveAsync(bytes.AsMemory(got), SocketFlags.None, timeout.Token);
            Assert.True(read > 0, $"the peer got the end after {got} of {count} bytes");
            got += read;
        }
        return bytes;
    }

    /// <summary>Receives until the transport's FIN (a receive of 0); returns everything received.</summary>
    public async Task<byte[]> ReceiveToEndAsync()
    {
        using var timeout = new CancellationTokenSource(Bound);
        var all = new ArrayBufferWriter<byte>();
        while (true)
        {
            int read = await Peer.ReceiveAsync(all.GetMemory(64 * 1024), SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                return all.WrittenSpan.ToArray();
            }
            all.Advance(read);
        }
    }

    /// <summary>The transport's own addresses, seen from the peer (an outbound connection does not record them).</summary>
    public (IPEndPoint Local, IPEndPoint Remote) TransportAddresses =>
        ((IPEndPoint)Peer.RemoteEndPoint!, (IPEndPoint)Peer.LocalEndPoint!);
}

/// <summary>Byte patterns and small checks the transport tests share.</summary>
internal static class EpollTestData
{
    /// <summary>The byte at absolute stream offset <paramref name="offset"/>: 251 is prime, so no block size aligns with it.</summary>
    public static byte At(long offset) => (byte)(offset % 251);

    public static byte[] Pattern(int length, long start = 0)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = At(start + i);
        }
        return bytes;
    }

    /// <summary>Writes <paramref name="count"/> pattern bytes from <paramref name="start"/> in GetSpan/Advance pieces of at most <paramref name="piece"/>.</summary>
    public static void WritePattern(PipeWriter writer, long start, int count, int piece = 4096)
    {
        int done = 0;
        while (done < count)
        {
            var span = writer.GetSpan(1);
            int n = Math.Min(Math.Min(span.Length, piece), count - done);
            for (int i = 0; i < n; i++)
            {
                span[i] = At(start + done + i);
            }
            writer.Advance(n);
            done += n;
        }
    }

    /// <summary>Index of the first byte that differs from the pattern, or -1.</summary>
    public static long FirstMismatch(ReadOnlySpan<byte> bytes, long start = 0)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != At(start + i))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// Whether a TCP socket with these addresses is still held by a descriptor: /proc/net/tcp shows inode 0 for a
    /// socket no descriptor refers to any more (closed, lingering in FIN_WAIT or TIME_WAIT), and no row once it is gone.
    /// </summary>
    public static bool HasDescriptor(IPEndPoint local, IPEndPoint remote)
    {
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (Port(fields[1]) == local.Port && Port(fields[2]) == remote.Port)
            {
                return fields[9] != "0";
            }
        }
        return false;

        static int Port(string address) => int.Parse(address.AsSpan(address.IndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }
}
