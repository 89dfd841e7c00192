using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace FastProxy.Tls.Tests;

/// <summary>Allocation measurements count the whole process: this collection runs alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(AllocationSensitive), DisableParallelization = true)]
public sealed class AllocationSensitive
{
}

/// <summary>
/// The TLS layer's reader (decrypting on demand, no pipe) and writer over a real TLS connection on 127.0.0.1: what a
/// socket's reader promises (bytes in order, examined-not-consumed, cancellation, the end) must hold over TLS too.
/// </summary>
[Collection(nameof(AllocationSensitive))]
public sealed class TlsPipeReaderTests(TlsServerFixture fixture) : IClassFixture<TlsServerFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadAsync_LargeBodyBothWays_ArrivesIntact()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture);
        var body = new byte[200_000];
        Random.Shared.NextBytes(body);

        var toServer = pair.ClientWriter.WriteAsync(body).AsTask();
        var atServer = await ReadExactlyAsync(pair.ServerReader, body.Length);
        await toServer;
        var toClient = pair.ServerWriter.WriteAsync(body).AsTask();
        var atClient = await ReadExactlyAsync(pair.ClientReader, body.Length);
        await toClient;

        Assert.Equal(body, atServer);
        Assert.Equal(body, atClient);
    }

    [Fact]
    public async Task CancelPendingRead_WhileWaiting_CanceledThenNextReadGetsTheBytes()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture);
        var waiting = pair.ServerReader.ReadAsync();
        Assert.False(waiting.IsCompleted);

        pair.ServerReader.CancelPendingRead();
        var canceled = await waiting.AsTask().WaitAsync(Timeout);
        pair.ServerReader.AdvanceTo(canceled.Buffer.Start);
        await pair.ClientWriter.WriteAsync("hello"u8.ToArray());
        var next = await pair.ServerReader.ReadAsync().AsTask().WaitAsync(Timeout);

        Assert.True(canceled.IsCanceled);
        Assert.True(canceled.Buffer.IsEmpty);
        Assert.False(next.IsCanceled);
        Assert.Equal("hello", Encoding.ASCII.GetString(next.Buffer.ToArray()));
    }

    [Fact]
    public async Task CancelPendingRead_BeforeRead_OnlyTheNextReadCanceled()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture);

        pair.ServerReader.CancelPendingRead();
        var first = pair.ServerReader.ReadAsync();
        Assert.True(first.IsCompleted);
        var canceled = await first;
        pair.ServerReader.AdvanceTo(canceled.Buffer.Start);
        var second = pair.ServerReader.ReadAsync();

        Assert.True(canceled.IsCanceled);
        Assert.False(second.IsCompleted);
        await pair.ClientWriter.WriteAsync("x"u8.ToArray());
        var result = await second.AsTask().WaitAsync(Timeout);
        Assert.False(result.IsCanceled);
        Assert.Equal(1, result.Buffer.Length);
    }

    [Fact]
    public async Task AdvanceTo_ExaminedNotConsumed_NextReadWaitsForMoreAndKeepsTheFirstBytes()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture);
        await pair.ClientWriter.WriteAsync("GET / HT"u8.ToArray());
        var partial = await pair.ServerReader.ReadAsync().AsTask().WaitAsync(Timeout);
        pair.ServerReader.AdvanceTo(partial.Buffer.Start, partial.Buffer.End);

        var more = pair.ServerReader.ReadAsync();
        Assert.False(more.IsCompleted);
        await pair.ClientWriter.WriteAsync("TP/1.1\r\n"u8.ToArray());
        var whole = await more.AsTask().WaitAsync(Timeout);

        Assert.Equal("GET / HTTP/1.1\r\n", Encoding.ASCII.GetString(whole.Buffer.ToArray()));
    }

    [Fact]
    public async Task TryRead_NothingSent_FalseAndNoReadStarted_ThenBytesAfterTheyCame()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture);

        Assert.False(pair.ServerReader.TryRead(out _));
        await pair.ClientWriter.WriteAsync("ab"u8.ToArray());
        var read = await pair.ServerReader.ReadAsync().AsTask().WaitAsync(Timeout);
        pair.ServerReader.AdvanceTo(read.Buffer.Start, read.Buffer.End);

        // Examined bytes are still there for TryRead (as Pipe's), not news for ReadAsync.
        Assert.True(pair.ServerReader.TryRead(out var again));
        Assert.Equal("ab", Encoding.ASCII.GetString(again.Buffer.ToArray()));
    }

    [Fact]
    public async Task ReadAhead_PeerSendsWhileNobodyReads_TryReadSeesTheBytes()
    {
        // An upstream connection idle in the pool: nobody reads, yet stray bytes from the backend must be noticed
        // (UpstreamConnection.IsReusable looks with TryRead).
        await using var pair = await TlsPair.ConnectAsync(fixture, serverReadAhead: true);

        await pair.ClientWriter.WriteAsync("stray"u8.ToArray());

        ReadResult seen = default;
        await WaitUntilAsync(() => pair.ServerReader.TryRead(out seen));
        Assert.Equal("stray", Encoding.ASCII.GetString(seen.Buffer.ToArray()));
    }

    [Fact]
    public async Task ReadAhead_PeerClosesWhileNobodyReads_InputEnded()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture, serverReadAhead: true);

        await pair.ClientSsl.ShutdownAsync();

        await WaitUntilAsync(() => pair.ServerReader.InputEnded);
    }

    [Fact]
    public async Task OnDemand_BytesSentWhileNobodyReads_NotDecryptedUntilARead()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture);
        await pair.ClientWriter.WriteAsync("later"u8.ToArray());
        await pair.ClientSsl.ShutdownAsync();

        // Without a read nothing is decrypted (a client connection's backpressure); the first read gets it all.
        Assert.False(pair.ServerReader.TryRead(out _));
        Assert.False(pair.ServerReader.InputEnded);
        var read = await pair.ServerReader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal("later", Encoding.ASCII.GetString(read.Buffer.ToArray()));
    }

    [Fact]
    public async Task ReadAsync_PeerSendsCloseNotify_CompletedAndInputEnded()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture);
        await pair.ClientWriter.WriteAsync("last"u8.ToArray());
        await pair.ClientSsl.ShutdownAsync();

        var data = await pair.ServerReader.ReadAsync().AsTask().WaitAsync(Timeout);
        string text = Encoding.ASCII.GetString(data.Buffer.ToArray());
        pair.ServerReader.AdvanceTo(data.Buffer.End);
        var end = await pair.ServerReader.ReadAsync().AsTask().WaitAsync(Timeout);

        Assert.Equal("last", text);
        Assert.True(end.IsCompleted);
        Assert.True(pair.ServerReader.InputEnded);
    }

    [Fact]
    public async Task StopAsync_FillWaitingOnTheSocket_EndsWhenItsReadIsEnded()
    {
        var pair = await TlsPair.ConnectAsync(fixture);
        var waiting = pair.ServerReader.ReadAsync(); // a fill now waits inside SslStream
        pair.ServerReader.CancelPendingRead();
        await waiting.AsTask().WaitAsync(Timeout);

        pair.ServerReader.Complete();
        await pair.ServerReader.StopAsync(() => pair.ServerSsl.Dispose()).AsTask().WaitAsync(Timeout);
        await pair.DisposeAsync();
    }

    [Fact]
    public async Task StopAsync_NoReadEver_EndsAtOnce()
    {
        var pair = await TlsPair.ConnectAsync(fixture);
        bool transportReadEnded = false;

        pair.ServerReader.Complete();
        await pair.ServerReader.StopAsync(() => transportReadEnded = true).AsTask().WaitAsync(Timeout);

        Assert.False(transportReadEnded); // the loop was waiting for a request: nothing in the transport to end
        await pair.DisposeAsync();
    }

    [Fact]
    public async Task CancelPendingRead_RacingRecords_NoByteLostDuplicatedOrReordered()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture);
        const int Messages = 3000;
        var sender = Task.Run(async () =>
        {
            var message = new byte[4];
            for (int i = 0; i < Messages; i++)
            {
                BitConverter.TryWriteBytes(message, i);
                await pair.ClientWriter.WriteAsync(message);
                if (i % 7 == 0)
                {
                    await Task.Yield();
                }
            }
        });
        using var stop = new CancellationTokenSource();
        var canceller = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                pair.ServerReader.CancelPendingRead();
                await Task.Yield();
            }
        });

        var received = new List<byte>(Messages * 4);
        int canceledReads = 0;
        var deadline = DateTime.UtcNow + Timeout;
        while (received.Count < Messages * 4 && DateTime.UtcNow < deadline)
        {
            var result = await pair.ServerReader.ReadAsync().AsTask().WaitAsync(Timeout);
            canceledReads += result.IsCanceled ? 1 : 0;
            received.AddRange(result.Buffer.ToArray());
            pair.ServerReader.AdvanceTo(result.Buffer.End);
        }
        stop.Cancel();
        await canceller;
        await sender;

        Assert.Equal(Messages * 4, received.Count);
        for (int i = 0; i < Messages; i++)
        {
            Assert.Equal(i, BitConverter.ToInt32(received.ToArray(), i * 4));
        }
        Assert.True(canceledReads > 0, "no read was cancelled: the race was not exercised");
    }

    [Fact]
    public async Task ReadAsync_SteadyStateRoundTrips_AllocateNothingPerRead()
    {
        await using var pair = await TlsPair.ConnectAsync(fixture);
        var message = new byte[512];

        await RoundTripsAsync(pair, message, 2_000); // warm up: pools, SslStream buffers, JIT
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await RoundTripsAsync(pair, message, 10_000);
        long perRoundTrip = (GC.GetTotalAllocatedBytes(precise: true) - before) / 10_000;

        // A round trip is two writes and two reads through SslStream; a Task or a buffer per operation would be
        // hundreds of bytes.
        Assert.True(perRoundTrip < 64, $"{perRoundTrip} bytes allocated per round trip");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ReadAsync_ManyConnectionsWaitingForEachRecord_AllocatesNothingPerReadOnlyWhenFramed(bool framed)
    {
        // The proxy's case: on every connection the HTTP code asks for the next request before it comes, so each fill
        // waits for every record. Waiting inside SslStream suspends two of its read state machines; their pooled
        // builder keeps a few boxes per core, and with dozens of connections waiting at once each wait allocates them
        // (~270 B). On a framed transport the wait happens on the transport instead. In-memory pipes with inline
        // scheduling: nothing else allocates. The unframed case shows the measurement sees the difference.
        const int Connections = 64;
        var pairs = new (TlsPipeReader Reader, SslStream Client)[Connections];
        for (int i = 0; i < Connections; i++)
        {
            pairs[i] = await InMemoryPairAsync(framed);
        }
        var message = new byte[512];

        await WaitingReadsAsync(pairs, message, 100); // warm up
        long before = GC.GetTotalAllocatedBytes(precise: true);
        const int Rounds = 200;
        await WaitingReadsAsync(pairs, message, Rounds);
        long perRead = (GC.GetTotalAllocatedBytes(precise: true) - before) / (Rounds * Connections);

        if (framed)
        {
            Assert.True(perRead < 64, $"{perRead} bytes allocated per record read");
        }
        else
        {
            Assert.True(perRead >= 64, $"only {perRead} bytes per read without framing: the measurement misses the waits");
        }
        foreach (var (reader, client) in pairs)
        {
            reader.Complete();
            client.Dispose();
        }
    }

    private async Task<(TlsPipeReader, SslStream)> InMemoryPairAsync(bool framed)
    {
        var inline = new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);
        var toServer = new Pipe(inline);
        var toClient = new Pipe(inline);
        var serverTransport = new Transport.DuplexPipeStream(new Transport.Tests.DuplexPipeStreamFramingTests.DuplexPipe(toServer.Reader, toClient.Writer), recordFramed: framed);
        var serverSsl = new SslStream(serverTransport);
        var clientSsl = new SslStream(new Transport.DuplexPipeStream(new Transport.Tests.DuplexPipeStreamFramingTests.DuplexPipe(toClient.Reader, toServer.Writer)));
        var loaded = new TlsCertificateCache().Get(fixture.ApiEcdsa.Config, null);
        using var cts = new CancellationTokenSource(Timeout);
        var serverHandshake = serverSsl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = loaded.Context }, cts.Token);
        await clientSsl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "api.example.test",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }, cts.Token);
        await serverHandshake;
        var reader = new TlsPipeReader(serverSsl, readAhead: false, serverTransport);
        reader.Start();
        return (reader, clientSsl);
    }

    private static async Task WaitingReadsAsync((TlsPipeReader Reader, SslStream Client)[] pairs, byte[] message, int rounds)
    {
        var pending = new ValueTask<ReadResult>[pairs.Length];
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < pairs.Length; i++)
            {
                pending[i] = pairs[i].Reader.ReadAsync(); // before the record is sent: every fill waits for it
            }
            for (int i = 0; i < pairs.Length; i++)
            {
                await pairs[i].Client.WriteAsync(message);
            }
            for (int i = 0; i < pairs.Length; i++)
            {
                var reader = pairs[i].Reader;
                for (int got = 0; ;)
                {
                    var read = await pending[i];
                    got += (int)read.Buffer.Length;
                    reader.AdvanceTo(read.Buffer.End);
                    if (got >= message.Length)
                    {
                        break;
                    }
                    pending[i] = reader.ReadAsync();
                }
            }
        }
    }

    // One async method for the whole loop (no helper awaited per round trip), so the measurement sees only what
    // SslStream, the reader and the writer allocate.
    private static async Task RoundTripsAsync(TlsPair pair, byte[] message, int count)
    {
        for (int i = 0; i < count; i++)
        {
            await pair.ClientWriter.WriteAsync(message);
            for (int got = 0; got < message.Length;)
            {
                var read = await pair.ServerReader.ReadAsync();
                got += (int)read.Buffer.Length;
                pair.ServerReader.AdvanceTo(read.Buffer.End);
            }
            await pair.ServerWriter.WriteAsync(message);
            for (int got = 0; got < message.Length;)
            {
                var read = await pair.ClientReader.ReadAsync();
                got += (int)read.Buffer.Length;
                pair.ClientReader.AdvanceTo(read.Buffer.End);
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int length)
    {
        var result = new byte[length];
        int got = 0;
        while (got < length)
        {
            var read = await reader.ReadAsync().AsTask().WaitAsync(Timeout);
            foreach (var segment in read.Buffer)
            {
                segment.Span.CopyTo(result.AsSpan(got));
                got += segment.Length;
            }
            reader.AdvanceTo(read.Buffer.End);
        }
        return result;
    }

    /// <summary>Two ends of a TLS connection over 127.0.0.1, each with the TLS layer's reader and writer.</summary>
    private sealed class TlsPair : IAsyncDisposable
    {
        private TlsPair(SslStream server, SslStream client, bool serverReadAhead)
        {
            ServerSsl = server;
            ClientSsl = client;
            ServerReader = new TlsPipeReader(server, serverReadAhead);
            ClientReader = new TlsPipeReader(client);
            ServerWriter = new TlsPipeWriter(server);
            ClientWriter = new TlsPipeWriter(client);
            ServerReader.Start();
            ClientReader.Start();
        }

        public SslStream ServerSsl { get; }
        public SslStream ClientSsl { get; }
        public TlsPipeReader ServerReader { get; }
        public TlsPipeReader ClientReader { get; }
        public TlsPipeWriter ServerWriter { get; }
        public TlsPipeWriter ClientWriter { get; }

        public static async Task<TlsPair> ConnectAsync(TlsServerFixture fixture, bool serverReadAhead = false)
        {
            var loaded = new TlsCertificateCache().Get(fixture.ApiEcdsa.Config, null);
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            using var cts = new CancellationTokenSource(Timeout);
            var accept = listener.AcceptAsync(cts.Token);
            var clientSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await clientSocket.ConnectAsync(listener.LocalEndPoint!, cts.Token);
            var serverSsl = new SslStream(new NetworkStream(await accept, ownsSocket: true));
            var clientSsl = new SslStream(new NetworkStream(clientSocket, ownsSocket: true));
            var serverHandshake = serverSsl.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions { ServerCertificateContext = loaded.Context }, cts.Token);
            await clientSsl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "api.example.test",
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, cts.Token);
            await serverHandshake;
            return new TlsPair(serverSsl, clientSsl, serverReadAhead);
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var (reader, ssl) in new[] { (ServerReader, ServerSsl), (ClientReader, ClientSsl) })
            {
                reader.Complete();
                await reader.StopAsync(ssl.Dispose).AsTask().WaitAsync(Timeout);
            }
            ServerWriter.Complete();
            ClientWriter.Complete();
        }
    }
}
