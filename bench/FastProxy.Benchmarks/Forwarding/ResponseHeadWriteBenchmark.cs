using System.Buffers;
using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using FastProxy.Forwarding;
using FastProxy.Http;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.Routing;
using FastProxy.Runtime;
using FastProxy.Upstreams;

namespace FastProxy.Benchmarks.Forwarding;

/// <summary>
/// The per-response head work: <see cref="Plain"/> is a typical backend head relayed to the client (hidden fields,
/// hop-by-hop, Server/Date) in a location with nginx's default proxy_redirect; <see cref="PlainRedirectOff"/> the same
/// with <c>proxy_redirect off</c> (what the per-field Location/Refresh check costs); <see cref="WithLocation"/> adds a
/// Location that the default proxy_redirect rewrites and makes absolute. Target: 0 B allocated.
/// </summary>
[MemoryDiagnoser]
public class ResponseHeadWriteBenchmark
{
    private static readonly byte[] s_plain = Encoding.ASCII.GetBytes(
        "HTTP/1.1 200 OK\r\nServer: gunicorn\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\nContent-Type: application/json\r\n" +
        "Content-Length: 512\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\nX-Request-Id: 4bf92f3577b34da6\r\n" +
        "Set-Cookie: session=0123456789abcdef; Path=/; HttpOnly\r\nConnection: keep-alive\r\n\r\n");

    private static readonly byte[] s_location = Encoding.ASCII.GetBytes(
        "HTTP/1.1 302 Found\r\nServer: gunicorn\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\nContent-Length: 0\r\n" +
        "Location: http://127.0.0.1:18081/v1/users/42/\r\nX-Request-Id: 4bf92f3577b34da6\r\n\r\n");

    private readonly HttpResponseHead _plain = new();
    private readonly HttpResponseHead _redirect = new();
    private readonly Sink _sink = new(16 * 1024);
    private readonly DateHeader _date = new(TimeProvider.System);
    private RequestContext _context = null!;
    private LocationRuntime _runtime = null!;
    private LocationRuntime _runtimeOff = null!;

    [GlobalSetup]
    public void Setup()
    {
        var listen = IPEndPoint.Parse("127.0.0.1:18080");
        var config = new ProxyConfigBuilder()
            .Server(s => s.Listen(listen).ServerName("api.example.com")
                .Location("/api/", l => l.ProxyPass("http://127.0.0.1:18081/v1/"))
                .Location("/off/", l => l.ProxyPass("http://127.0.0.1:18081/v1/").ProxyRedirect(null)))
            .Build();
        using var heartbeat = new Heartbeat(TimeProvider.System, TimeSpan.FromSeconds(1));
        var errors = new List<string>();
        var snapshot = ProxySnapshot.TryBuild(config, new UpstreamPoolRegistry(), heartbeat, [], errors)
            ?? throw new InvalidOperationException(string.Join("; ", errors));
        var head = new HttpRequestHead();
        Http1Parser.ParseRequestHead(new ReadOnlySequence<byte>("GET /api/users/42 HTTP/1.1\r\nHost: api.example.com\r\n\r\n"u8.ToArray()),
            head, Http1ParserOptions.Default, out _, out _);
        _context = new RequestContext(IPEndPoint.Parse("198.51.100.20:50000"), listen, 1);
        _context.BeginRequest(head);
        _context.Snapshot = snapshot;
        _context.SetHost(_context.GetValue(head.Fields[head.HostFieldIndex]));
        var server = snapshot.Routes.SelectServer(listen, _context.Host);
        _context.Server = server;
        var location = snapshot.Routes.FindLocation(server, "/api/users/42"u8);
        _runtime = snapshot.GetLocation(location!.Settings);
        _context.Location = location;
        _context.LocationRuntime = _runtime;
        _runtimeOff = snapshot.GetLocation(snapshot.Routes.FindLocation(server, "/off/x"u8)!.Settings);
        Http1Parser.ParseResponseHead(new ReadOnlySequence<byte>(s_plain), _plain, Http1ParserOptions.Default, out _, out _);
        Http1Parser.ParseResponseHead(new ReadOnlySequence<byte>(s_location), _redirect, Http1ParserOptions.Default, out _, out _);
    }

    [Benchmark(Baseline = true)]
    public int Plain() => Write(_plain);

    [Benchmark]
    public int PlainRedirectOff() => Write(_plain, _runtimeOff);

    [Benchmark]
    public int WithLocation() => Write(_redirect);

    private int Write(HttpResponseHead response, LocationRuntime? runtime = null)
    {
        _sink.Reset();
        var writer = new BufferWriter(_sink);
        ResponseHeadWriter.Write(ref writer, response, runtime ?? _runtime, _date, _context, dropTransferEncoding: false, ClientConnectionMode.KeepAlive);
        writer.Commit();
        return _sink.Written;
    }

    private sealed class Sink(int size) : IBufferWriter<byte>
    {
        private readonly byte[] _buffer = new byte[size];

        public int Written { get; private set; }

        public void Reset() => Written = 0;

        public void Advance(int count) => Written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => _buffer.AsMemory(Written);

        public Span<byte> GetSpan(int sizeHint = 0) => _buffer.AsSpan(Written);
    }
}
