using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace FastProxy.Tls.Tests;

/// <summary>Allocation measurements count the whole process: this collection runs alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(AllocationSensitive), DisableParallelization = true)]
public sealed class AllocationSensitive
{
}

[Collection(nameof(AllocationSensitive))]
public sealed class TlsDuplexPipeTests(TlsServerFixture fixture) : IClassFixture<TlsServerFixture>
{
    [Fact]
    public async Task Pipes_LargeBodyBothWays_ArrivesIntact()
    {
        var (server, client) = await ConnectedPairAsync();
        await using var _ = server;
        await using var __ = client;
        var body = new byte[200_000];
        Random.Shared.NextBytes(body);

        var send = client.Output.WriteAsync(body).AsTask();
        var received = await ReadExactlyAsync(server, body.Length);
        await send;

        Assert.Equal(body, received);
    }

    [Fact]
    public async Task Pipes_SteadyStateRoundTrips_AllocateNothingPerRead()
    {
        var (server, client) = await ConnectedPairAsync();
        await using var _ = server;
        await using var __ = client;
        var message = new byte[512];

        await RoundTripsAsync(server, client, message, 2_000); // warm up: pools, SslStream buffers, JIT
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await RoundTripsAsync(server, client, message, 10_000);
        long perRoundTrip = (GC.GetTotalAllocatedBytes(precise: true) - before) / 10_000;

        // A round trip is two writes and two reads through SslStream and the pipes; measured at ~9 bytes (process
        // noise: timers, thread pool). A Task or buffer per operation would be hundreds.
        Assert.True(perRoundTrip < 64, $"{perRoundTrip} bytes allocated per round trip");
    }

    // One async method for the whole loop (no helper awaited per round trip), so the measurement sees only what
    // SslStream and the pipes allocate, in Debug builds too.
    private static async Task RoundTripsAsync(TlsDuplexPipe server, TlsDuplexPipe client, byte[] message, int count)
    {
        for (int i = 0; i < count; i++)
        {
            await client.Output.WriteAsync(message);
            for (int got = 0; got < message.Length;)
            {
                var read = await server.Input.ReadAsync();
                got += (int)read.Buffer.Length;
                server.Input.AdvanceTo(read.Buffer.End);
            }
            await server.Output.WriteAsync(message);
            for (int got = 0; got < message.Length;)
            {
                var read = await client.Input.ReadAsync();
                got += (int)read.Buffer.Length;
                client.Input.AdvanceTo(read.Buffer.End);
            }
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(TlsDuplexPipe pipe, int length)
    {
        var result = new byte[length];
        int got = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (got < length)
        {
            var read = await pipe.Input.ReadAsync(cts.Token);
            foreach (var segment in read.Buffer)
            {
                segment.Span.CopyTo(result.AsSpan(got));
                got += segment.Length;
            }
            pipe.Input.AdvanceTo(read.Buffer.End);
        }
        return result;
    }

    private async Task<(TlsDuplexPipe Server, TlsDuplexPipe Client)> ConnectedPairAsync()
    {
        var loaded = new TlsCertificateCache().Get(fixture.ApiEcdsa.Config, null);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
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
        return (new TlsDuplexPipe(serverSsl), new TlsDuplexPipe(clientSsl));
    }
}
