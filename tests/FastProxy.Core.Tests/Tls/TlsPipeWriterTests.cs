using System.IO.Pipelines;
using System.Net.Security;
using FastProxy.Transport;
using Xunit;

namespace FastProxy.Tls.Tests;

/// <summary>
/// The writer of a client connection (server role): SslStream's synchronous Write over <see cref="DuplexPipeStream"/>
/// only fills the transport's buffer, and the writer flushes the transport and waits for its backpressure there.
/// The transport here is a pair of pipes with a small pause threshold, so a peer that does not read fills it.
/// </summary>
public sealed class TlsPipeWriterTests(TlsServerFixture fixture) : IClassFixture<TlsServerFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(100)]
    [InlineData(16 * 1024)]
    [InlineData(100 * 1024 + 7)] // several blocks, gathered into 16 KiB records
    public async Task FlushAsync_ThroughTheTransport_PeerReadsEveryByteInOrder(int length)
    {
        await using var pair = await PipePair.ConnectAsync(fixture);
        var data = Pattern(length);
        var buffer = new byte[length];
        var received = pair.Client.ReadExactlyAsync(buffer).AsTask();

        var flush = await pair.Writer.WriteAsync(data).AsTask().WaitAsync(Timeout);

        await received.WaitAsync(Timeout);
        Assert.False(flush.IsCompleted);
        Assert.Equal(data, buffer);
    }

    [Fact]
    public async Task FlushAsync_PeerNotReading_WaitsForTheTransportThenCompletes()
    {
        await using var pair = await PipePair.ConnectAsync(fixture);
        var data = Pattern(256 * 1024); // far beyond the transport's 64 KiB pause threshold

        var flush = pair.Writer.WriteAsync(data);

        Assert.False(flush.IsCompleted); // backpressure: the transport is full, nothing blocked the thread
        var buffer = new byte[data.Length];
        await pair.Client.ReadExactlyAsync(buffer).AsTask().WaitAsync(Timeout);
        var result = await flush.AsTask().WaitAsync(Timeout);
        Assert.False(result.IsCompleted);
        Assert.Equal(data, buffer);
    }

    [Fact]
    public async Task FlushAsync_TransportReaderGone_ReportsCompletedFromThenOn()
    {
        await using var pair = await PipePair.ConnectAsync(fixture);
        pair.ServerToClient.Reader.Complete(); // the peer's side of the transport is gone

        var first = await pair.Writer.WriteAsync(Pattern(100)).AsTask().WaitAsync(Timeout);
        var second = await pair.Writer.WriteAsync(Pattern(100)).AsTask().WaitAsync(Timeout);

        Assert.True(first.IsCompleted);
        Assert.True(second.IsCompleted);
        Assert.True(pair.Writer.Failed);
    }

    private static byte[] Pattern(int length)
    {
        var data = new byte[length];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i * 7 + i / 251);
        }
        return data;
    }

    /// <summary>A server SslStream over DuplexPipeStream over two pipes, and a client SslStream over the other ends.</summary>
    private sealed class PipePair : IAsyncDisposable
    {
        private PipePair(Pipe serverToClient, SslStream server, SslStream client, PipeWriter transportOutput)
        {
            ServerToClient = serverToClient;
            Server = server;
            Client = client;
            Writer = new TlsPipeWriter(server, transportOutput);
        }

        public Pipe ServerToClient { get; }
        public SslStream Server { get; }
        public SslStream Client { get; }
        public TlsPipeWriter Writer { get; }

        public static async Task<PipePair> ConnectAsync(TlsServerFixture fixture)
        {
            var options = new PipeOptions(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, useSynchronizationContext: false);
            var serverToClient = new Pipe(options);
            var clientToServer = new Pipe(options);
            var serverTransport = new Duplex(clientToServer.Reader, serverToClient.Writer);
            var clientTransport = new Duplex(serverToClient.Reader, clientToServer.Writer);
            var loaded = new TlsCertificateCache().Get(fixture.ApiEcdsa.Config, null);
            var server = new SslStream(new DuplexPipeStream(serverTransport));
            var client = new SslStream(new DuplexPipeStream(clientTransport));
            using var cts = new CancellationTokenSource(Timeout);
            var serverHandshake = server.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions { ServerCertificateContext = loaded.Context, AllowRenegotiation = false }, cts.Token);
            await client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "api.example.test",
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, cts.Token);
            await serverHandshake;
            return new PipePair(serverToClient, server, client, serverTransport.Output);
        }

        public ValueTask DisposeAsync()
        {
            Writer.ReleaseBlocks();
            Server.Dispose();
            Client.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
