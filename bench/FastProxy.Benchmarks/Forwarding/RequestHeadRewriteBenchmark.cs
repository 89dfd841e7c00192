using System.Buffers;
using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using FastProxy.Config;
using FastProxy.Forwarding;
using FastProxy.Http;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.Routing;
using FastProxy.Runtime;
using FastProxy.Upstreams;

namespace FastProxy.Benchmarks.Forwarding;

/// <summary>
/// The per-request head work of the forwarder: <see cref="Rewrite"/> is the upstream head alone (01-basic.conf's
/// proxy_set_header set: $host, $remote_addr, $proxy_add_x_forwarded_for, $scheme); <see cref="ParseRouteRewrite"/>
/// adds what precedes it per request (parse, copy the head, $host, normalise, route). Target: 0 B allocated.
/// </summary>
[MemoryDiagnoser]
public class RequestHeadRewriteBenchmark
{
    // A browser-like request (what wrk and real clients send is smaller; this has the usual dozen fields).
    private static readonly byte[] s_request = Encoding.ASCII.GetBytes(
        "GET /api/users/42?fields=name,email HTTP/1.1\r\n" +
        "Host: api.example.com\r\n" +
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
        "Accept-Language: en-US,en;q=0.9\r\n" +
        "Accept-Encoding: gzip, deflate, br\r\n" +
        "Cookie: session=0123456789abcdef; theme=dark\r\n" +
        "X-Forwarded-For: 203.0.113.9\r\n" +
        "Connection: keep-alive\r\n" +
        "Upgrade-Insecure-Requests: 1\r\n\r\n");

    private readonly ReadOnlySequence<byte> _input = new(s_request);
    private readonly HttpRequestHead _head = new();
    private readonly Sink _sink = new(64 * 1024);
    private RequestContext _context = null!;
    private ProxySnapshot _snapshot = null!;
    private LocationRoute? _location;
    private LocationRuntime _runtime = null!;
    private IPEndPoint _listen = null!;

    [GlobalSetup]
    public void Setup()
    {
        _listen = IPEndPoint.Parse("127.0.0.1:18080");
        var config = new ProxyConfigBuilder()
            .Server(s => s.Listen(_listen).ServerName("api.example.com").Location("/", l => l
                .ProxyPass("http://127.0.0.1:18081")
                .ProxyHttpVersion("1.1")
                .ProxySetHeader("Host", "$host")
                .ProxySetHeader("X-Real-IP", "$remote_addr")
                .ProxySetHeader("X-Forwarded-For", "$proxy_add_x_forwarded_for")
                .ProxySetHeader("X-Forwarded-Proto", "$scheme")))
            .Build();
        using var heartbeat = new Heartbeat(TimeProvider.System, TimeSpan.FromSeconds(1));
        var errors = new List<string>();
        _snapshot = ProxySnapshot.TryBuild(config, new UpstreamPoolRegistry(), heartbeat, [], errors)
            ?? throw new InvalidOperationException(string.Join("; ", errors));
        _context = new RequestContext(IPEndPoint.Parse("198.51.100.20:50000"), _listen, 1);
        Prepare();
    }

    private void Prepare()
    {
        Http1Parser.ParseRequestHead(_input, _head, Http1ParserOptions.Default, out _, out _);
        _context.BeginRequest(_head);
        _context.Snapshot = _snapshot;
        var bytes = _context.HeadBytes;
        _context.SetHost(_context.GetValue(_head.Fields[_head.HostFieldIndex]));
        var server = _snapshot.Routes.SelectServer(_listen, _context.Host);
        _context.Server = server;
        var rawPath = bytes.Slice(_head.PathOffset, _head.PathLength);
        UriNormalizer.TryNormalize(rawPath, _context.UriDestination(rawPath.Length), true, out int length);
        _context.SetUriLength(length);
        _location = _snapshot.Routes.FindLocation(server, _context.Uri);
        _runtime = _snapshot.GetLocation(_location!.Settings);
        _context.Location = _location;
        _context.LocationRuntime = _runtime;
    }

    [Benchmark(Baseline = true)]
    public int Rewrite()
    {
        _sink.Reset();
        var writer = new BufferWriter(_sink);
        RequestHeadWriter.Write(ref writer, _context, _location, _runtime, UpstreamBodyFraming.None, 0, upgrade: false, keepAlive: true);
        writer.Commit();
        return _sink.Written;
    }

    [Benchmark]
    public int ParseRouteRewrite()
    {
        _context.EndRequest();
        Prepare();
        return Rewrite();
    }

    /// <summary>An IBufferWriter over one array, reset per operation (a pipe's segment stands in for it in the proxy).</summary>
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
