using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using FastProxy.Config;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Tls.Tests;

public sealed class UpstreamTlsFixture : IDisposable
{
    internal TestPki Pki { get; } = new();

    internal CertFiles Upstream { get; }

    internal CertFiles SelfSigned { get; }

    internal CertFiles Client { get; }

    public UpstreamTlsFixture()
    {
        Upstream = Pki.IssueEcdsa("upstream", ["upstream.test", "127.0.0.1"]);
        SelfSigned = Pki.IssueRsa("self-signed", ["upstream.test"], selfSigned: true);
        Client = Pki.IssueEcdsa("client", ["fastproxy-client"]);
    }

    public void Dispose() => Pki.Dispose();
}

/// <summary>HTTPS to upstreams (proxy_pass https://...): verification, SNI, client certificates, session reuse.</summary>
public sealed class UpstreamTlsContextTests(UpstreamTlsFixture fixture) : IClassFixture<UpstreamTlsFixture>
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(20);
    private readonly TlsCertificateCache _cache = new();

    private TestTlsServer StartUpstream(CertFiles certificate) =>
        new(endPoint => TlsServerContext.Create(endPoint,
            [TlsConfigs.Server(endPoint, ["upstream.test"], TlsConfigs.Tls(certificate))], _cache, NullLogger.Instance));

    private UpstreamTlsContext Context(UpstreamTlsConfig config, string proxyHost = "upstream.test:443") =>
        UpstreamTlsContext.Create(config, proxyHost, _cache, NullLogger.Instance);

    private static async Task<UpstreamTlsResult> ConnectAsync(UpstreamTlsContext context, IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint);
        return await context.AuthenticateAsync(new NetworkStream(socket, ownsSocket: true), HandshakeTimeout, CancellationToken.None);
    }

    private UpstreamTlsConfig Verifying(string? name = null) => new()
    {
        Verify = true,
        TrustedCertificate = fixture.Pki.RootPath,
        VerifyDepth = 2,
        ServerName = true,
        Name = name is null ? null : ValueTemplate.Parse(name),
    };

    [Fact]
    public async Task AuthenticateAsync_VerifyOnWithTheRightCa_Succeeds()
    {
        await using var upstream = StartUpstream(fixture.Upstream);

        var result = await ConnectAsync(Context(Verifying()), upstream.EndPoint);

        Assert.True(result.Succeeded, result.Detail);
        await result.Stream!.DisposeAsync();
    }

    [Fact]
    public async Task AuthenticateAsync_VerifyOnAgainstUntrustedCertificate_FailsUntrusted()
    {
        await using var upstream = StartUpstream(fixture.SelfSigned);

        var result = await ConnectAsync(Context(Verifying()), upstream.EndPoint);

        Assert.Equal(UpstreamTlsError.CertificateUntrusted, result.Error);
        Assert.Contains("verify error", result.Detail);
    }

    [Fact]
    public async Task AuthenticateAsync_VerifyOnWithOtherName_FailsNameMismatch()
    {
        await using var upstream = StartUpstream(fixture.Upstream);

        var result = await ConnectAsync(Context(Verifying("other.test")), upstream.EndPoint);

        Assert.Equal(UpstreamTlsError.CertificateNameMismatch, result.Error);
        Assert.Contains("does not match \"other.test\"", result.Detail);
    }

    [Fact]
    public async Task AuthenticateAsync_VerifyDepthZeroWithAnIntermediate_FailsChainTooLong()
    {
        await using var upstream = StartUpstream(fixture.Upstream);

        var result = await ConnectAsync(Context(Verifying() with { VerifyDepth = 0 }), upstream.EndPoint);

        Assert.Equal(UpstreamTlsError.ChainTooLong, result.Error);
    }

    [Fact]
    public async Task AuthenticateAsync_VerifyOff_AcceptsAnyCertificate()
    {
        await using var upstream = StartUpstream(fixture.SelfSigned);

        var result = await ConnectAsync(Context(UpstreamTlsConfig.Default), upstream.EndPoint);

        Assert.True(result.Succeeded, result.Detail);
        await result.Stream!.DisposeAsync();
    }

    [Fact]
    public async Task AuthenticateAsync_ServerNameOff_SendsNoSni()
    {
        await using var upstream = StartUpstream(fixture.Upstream);

        var result = await ConnectAsync(Context(UpstreamTlsConfig.Default), upstream.EndPoint);
        var seen = await upstream.NextResultAsync();

        Assert.True(result.Succeeded, result.Detail);
        Assert.Null(seen.ServerName);
        await result.Stream!.DisposeAsync();
    }

    [Fact]
    public async Task AuthenticateAsync_ServerNameOn_SendsProxySslNameOrTheProxyPassHost()
    {
        await using var upstream = StartUpstream(fixture.Upstream);

        var byHost = await ConnectAsync(Context(new UpstreamTlsConfig { ServerName = true }, "backend.internal:8443"), upstream.EndPoint);
        var byHostSeen = await upstream.NextResultAsync();
        var byName = await ConnectAsync(Context(new UpstreamTlsConfig { ServerName = true, Name = ValueTemplate.Parse("upstream.test") }), upstream.EndPoint);
        var byNameSeen = await upstream.NextResultAsync();
        var byAddress = await ConnectAsync(Context(new UpstreamTlsConfig { ServerName = true }, "127.0.0.1:8443"), upstream.EndPoint);
        var byAddressSeen = await upstream.NextResultAsync();

        Assert.Equal("backend.internal", byHostSeen.ServerName);
        Assert.Equal("upstream.test", byNameSeen.ServerName);
        Assert.Null(byAddressSeen.ServerName); // RFC 6066 §3: no IP literals in SNI
        foreach (var result in new[] { byHost, byName, byAddress })
        {
            Assert.True(result.Succeeded, result.Detail);
            await result.Stream!.DisposeAsync();
        }
    }

    [Fact]
    public async Task AuthenticateAsync_VerifyOnByAddress_ChecksTheIpSubjectAltName()
    {
        await using var upstream = StartUpstream(fixture.Upstream);

        var result = await ConnectAsync(Context(Verifying() with { ServerName = false }, "127.0.0.1:443"), upstream.EndPoint);

        Assert.True(result.Succeeded, result.Detail);
        await result.Stream!.DisposeAsync();
    }

    [Fact]
    public async Task AuthenticateAsync_SecondConnectionWithSameSettings_ResumesTheSession()
    {
        await using var server = await OpenSslServer.StartAsync(fixture, "-www", "-naccept", "2");
        var context = Context(new UpstreamTlsConfig { ServerName = true, Name = ValueTemplate.Parse("upstream.test") });

        string first = await FetchStatusPageAsync(context, server.EndPoint);
        string second = await FetchStatusPageAsync(context, server.EndPoint);

        Assert.Contains("New, TLSv1.3", first);
        Assert.True(second.Contains("Reused, TLSv1.3"), second);
    }

    [Fact]
    public async Task AuthenticateAsync_ClientCertificateConfigured_IsPresented()
    {
        await using var server = await OpenSslServer.StartAsync(fixture, "-www", "-naccept", "1", "-Verify", "2", "-CAfile", fixture.Pki.RootPath);
        var context = Context(new UpstreamTlsConfig { ClientCertificate = fixture.Client.Config });

        string page = await FetchStatusPageAsync(context, server.EndPoint);

        Assert.Contains("CN = fastproxy-client", page.Replace("CN=", "CN = "));
    }

    [Fact]
    public void GetPoolKey_SettingsThatAffectReuse_GiveDifferentKeys()
    {
        var endPoint = new IPEndPoint(IPAddress.Loopback, 8443);
        var plain = Context(UpstreamTlsConfig.Default).GetPoolKey(endPoint);

        Assert.Equal(plain, Context(UpstreamTlsConfig.Default).GetPoolKey(endPoint));
        Assert.NotEqual(plain, Context(UpstreamTlsConfig.Default).GetPoolKey(new IPEndPoint(IPAddress.Loopback, 9443)));
        Assert.NotEqual(plain, Context(new UpstreamTlsConfig { ServerName = true }).GetPoolKey(endPoint));
        Assert.NotEqual(plain, Context(Verifying() with { ServerName = false }).GetPoolKey(endPoint));
        Assert.NotEqual(plain, Context(new UpstreamTlsConfig { ClientCertificate = fixture.Client.Config }).GetPoolKey(endPoint));
        Assert.NotEqual(plain, Context(new UpstreamTlsConfig { Protocols = ["TLSv1.3"] }).GetPoolKey(endPoint));
    }

    [Fact]
    public void Create_VerifyWithoutTrustedCertificate_Throws()
    {
        var e = Assert.Throws<TlsConfigurationException>(() => Context(new UpstreamTlsConfig { Verify = true }));

        Assert.Contains("proxy_ssl_trusted_certificate", e.Message);
    }

    [Theory]
    [InlineData("backend:8443", "backend")]
    [InlineData("backend", "backend")]
    [InlineData("[::1]:8443", "[::1]")]
    [InlineData("::1", "::1")]
    public void StripPort_HostWithOrWithoutPort_GivesTheHost(string host, string expected)
    {
        Assert.Equal(expected, UpstreamTlsContext.StripPort(host));
    }

    private static async Task<string> FetchStatusPageAsync(UpstreamTlsContext context, IPEndPoint endPoint)
    {
        var result = await ConnectAsync(context, endPoint);
        Assert.True(result.Succeeded, result.Detail);
        await using var ssl = result.Stream!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await ssl.WriteAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray(), cts.Token);
        var page = new StringBuilder();
        var buffer = new byte[4096];
        int n;
        while ((n = await ssl.ReadAsync(buffer, cts.Token)) > 0)
        {
            page.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        return page.ToString();
    }

    /// <summary><c>openssl s_server</c> as an upstream, on a port it picks and reports ("ACCEPT 127.0.0.1:PORT").</summary>
    private sealed class OpenSslServer : IAsyncDisposable
    {
        private readonly Process _process;

        private OpenSslServer(Process process, IPEndPoint endPoint)
        {
            _process = process;
            EndPoint = endPoint;
        }

        public IPEndPoint EndPoint { get; }

        public static async Task<OpenSslServer> StartAsync(UpstreamTlsFixture fixture, params string[] extra)
        {
            var chain = fixture.Pki.Write("upstream-chain-" + Guid.NewGuid().ToString("N")[..6] + ".pem", fixture.Pki.Intermediate.ExportCertificatePem());
            var info = new ProcessStartInfo(Tools.Require("openssl"))
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in (string[])["s_server", "-accept", "127.0.0.1:0", "-cert", fixture.Upstream.CertificatePath,
                         "-key", fixture.Upstream.KeyPath, "-cert_chain", chain, .. extra])
            {
                info.ArgumentList.Add(argument);
            }
            var process = Process.Start(info)!;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            while (true)
            {
                string? line = await process.StandardOutput.ReadLineAsync(cts.Token);
                if (line is null)
                {
                    throw new InvalidOperationException("openssl s_server exited: " + await process.StandardError.ReadToEndAsync());
                }
                if (line.StartsWith("ACCEPT ", StringComparison.Ordinal))
                {
                    // Keep draining its output so it never blocks on a full pipe.
                    _ = process.StandardOutput.ReadToEndAsync();
                    _ = process.StandardError.ReadToEndAsync();
                    return new OpenSslServer(process, IPEndPoint.Parse(line["ACCEPT ".Length..].Trim()));
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            _process.Dispose();
        }
    }
}
