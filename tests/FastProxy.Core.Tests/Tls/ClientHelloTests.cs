using System.Buffers.Binary;
using System.Net.Security;
using System.Security.Authentication;

namespace FastProxy.Tls.Tests;

public sealed class ClientHelloTests
{
    private static readonly Lazy<byte[]> DotNetHello = new(() => CaptureClientHello("api.example.test", [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11]));

    public static IEnumerable<object[]> EveryPrefixLength()
    {
        var hello = DotNetHello.Value;
        for (int i = 0; i < hello.Length; i++)
        {
            yield return [i];
        }
    }

    [Fact]
    public void TryParse_DotNetClientHello_ReadsSniVersionsSignaturesAndAlpn()
    {
        var hello = DotNetHello.Value;

        var status = ClientHello.TryParse(hello, out var info);

        Assert.Equal(ClientHelloStatus.Complete, status);
        Assert.Equal("api.example.test", info.ServerName);
        Assert.True(info.OffersTls13);
        Assert.True(info.HasSignatureAlgorithms);
        Assert.True(info.Signatures.HasFlag(SignatureSupport.EcdsaP256));
        Assert.True(info.Signatures.HasFlag(SignatureSupport.RsaPss));
        Assert.True(info.HasGroups);
        Assert.True(info.OffersAlpn && info.AlpnH2 && info.AlpnHttp11);
        Assert.True(ClientHello.OffersCipherSuite(hello, info, (ushort)TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256));
        Assert.False(ClientHello.OffersCipherSuite(hello, info, 0x0001)); // NULL-MD5
    }

    [Theory]
    [MemberData(nameof(EveryPrefixLength))]
    public void TryParse_EveryPrefix_IsIncomplete(int length)
    {
        var status = ClientHello.TryParse(DotNetHello.Value.AsSpan(0, length), out _);

        Assert.Equal(ClientHelloStatus.Incomplete, status);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(40)]
    [InlineData(100)]
    public void TryParse_HelloFragmentedOverTwoRecords_MatchesSingleRecord(int firstFragment)
    {
        var hello = DotNetHello.Value;
        var message = hello.AsSpan(5);
        var split = new byte[hello.Length + 5];
        WriteRecord(split, 0, message[..firstFragment]);
        WriteRecord(split, 5 + firstFragment, message[firstFragment..]);

        var status = ClientHello.TryParse(split, out var info);

        Assert.Equal(ClientHelloStatus.Complete, status);
        Assert.Equal("api.example.test", info.ServerName);
        Assert.True(info.OffersTls13);
        Assert.Equal(ClientHelloStatus.Incomplete, ClientHello.TryParse(split.AsSpan(0, split.Length - 1), out _));
    }

    [Fact]
    public void TryParse_PlainHttpRequest_IsPlainHttp()
    {
        Assert.Equal(ClientHelloStatus.PlainHttp, ClientHello.TryParse("GET / HTTP/1.1\r\n"u8, out _));
    }

    [Fact]
    public void TryParse_ExtensionsLongerThanTheMessage_IsUnreadable()
    {
        // Drop the last byte but keep the record and handshake lengths consistent: the extensions block now claims one
        // byte more than the message holds.
        var hello = DotNetHello.Value;
        var cut = hello.AsSpan(0, hello.Length - 1).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(cut.AsSpan(3), (ushort)(cut.Length - 5));
        int messageLength = cut.Length - 9;
        cut[6] = (byte)(messageLength >> 16);
        cut[7] = (byte)(messageLength >> 8);
        cut[8] = (byte)messageLength;

        Assert.Equal(ClientHelloStatus.Unreadable, ClientHello.TryParse(cut, out _));
    }

    [Fact]
    public void TryParse_NotAClientHello_IsUnreadable()
    {
        Assert.Equal(ClientHelloStatus.Unreadable, ClientHello.TryParse([22, 3, 1, 0, 4, 2, 0, 0, 0], out _)); // a ServerHello
        Assert.Equal(ClientHelloStatus.Unreadable, ClientHello.TryParse([0x80, 0x2e, 0x01, 0x03, 0x01], out _)); // SSLv2-style hello
    }

    private static void WriteRecord(byte[] target, int offset, ReadOnlySpan<byte> fragment)
    {
        target[offset] = 22;
        target[offset + 1] = 3;
        target[offset + 2] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(target.AsSpan(offset + 3), (ushort)fragment.Length);
        fragment.CopyTo(target.AsSpan(offset + 5));
    }

    /// <summary>The first flight of a real .NET (OpenSSL) client, captured from a stream that never answers.</summary>
    private static byte[] CaptureClientHello(string host, List<SslApplicationProtocol> alpn)
    {
        var capture = new CaptureStream();
        using var ssl = new SslStream(capture);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var handshake = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = host,
            ApplicationProtocols = alpn,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }, cts.Token);
        var bytes = capture.FirstWrite.Task.WaitAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
        cts.Cancel();
        try
        {
            handshake.GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or AuthenticationException)
        {
        }
        return bytes;
    }

    private sealed class CaptureStream : Stream
    {
        public TaskCompletionSource<byte[]> FirstWrite { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            FirstWrite.TrySetResult(buffer.ToArray());
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, default).GetAwaiter().GetResult();
    }
}
