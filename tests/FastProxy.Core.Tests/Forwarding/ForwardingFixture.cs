using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using FastProxy.Config;
using FastProxy.Forwarding;
using FastProxy.Http;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.Routing;
using FastProxy.Runtime;
using FastProxy.Upstreams;

namespace FastProxy.Core.Tests.Forwarding;

/// <summary>
/// A parsed request in a request context, routed through a snapshot built from a builder config, as the connection
/// loop prepares it before forwarding: for testing variables and head rewriting without sockets.
/// </summary>
internal sealed class ForwardingFixture
{
    private ForwardingFixture(RequestContext context, LocationRoute? location, LocationRuntime runtime)
    {
        Context = context;
        Location = location;
        Runtime = runtime;
    }

    public RequestContext Context { get; }
    public LocationRoute? Location { get; }
    public LocationRuntime Runtime { get; }

    public static ForwardingFixture Create(string request, Action<LocationBuilder> location, Action<ProxyConfigBuilder>? more = null,
        string locationPattern = "/", string remote = "192.0.2.7:51000", string local = "127.0.0.1:8080")
    {
        var builder = new ProxyConfigBuilder();
        more?.Invoke(builder);
        builder.Upstream("backend", u => u.Server("127.0.0.1:9"));
        builder.Server(s => s.Listen(local).ServerName("example.org").Location(locationPattern, location));
        var config = builder.Build();
        using var heartbeat = new Heartbeat(TimeProvider.System, TimeSpan.FromSeconds(1));
        var errors = new List<string>();
        var snapshot = ProxySnapshot.TryBuild(config, new UpstreamPoolRegistry(), heartbeat, [], errors)
            ?? throw new InvalidOperationException(string.Join("; ", errors));

        var head = new HttpRequestHead();
        var status = Http1Parser.ParseRequestHead(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(request)), head,
            Http1ParserOptions.Default, out _, out _);
        if (status != Http1Status.Complete)
        {
            throw new InvalidOperationException("request did not parse: " + status);
        }
        var context = new RequestContext(IPEndPoint.Parse(remote), IPEndPoint.Parse(local), connectionSerial: 3) { ConnectionRequests = 1 };
        context.BeginRequest(head);
        context.Snapshot = snapshot;
        var bytes = context.HeadBytes;
        context.SetHost(head.AuthorityOffset >= 0 ? bytes.Slice(head.AuthorityOffset, head.AuthorityLength)
            : head.HostFieldIndex >= 0 ? context.GetValue(head.Fields[head.HostFieldIndex]) : default);
        var server = snapshot.Routes.SelectServer(IPEndPoint.Parse(local), context.Host);
        context.Server = server;
        var rawPath = head.PathLength == 0 ? "/"u8 : bytes.Slice(head.PathOffset, head.PathLength);
        UriNormalizer.TryNormalize(rawPath, context.UriDestination(rawPath.Length), true, out int uriLength);
        context.SetUriLength(uriLength);
        var route = snapshot.Routes.FindLocation(server, context.Uri);
        var runtime = snapshot.GetLocation(route?.Settings ?? server.Config.Settings);
        context.Location = route;
        context.LocationRuntime = runtime;
        return new ForwardingFixture(context, route, runtime);
    }

    /// <summary>Evaluates one template against the request.</summary>
    public string Evaluate(string template)
    {
        var compiled = CompiledTemplate.Compile(ValueTemplate.Parse(template), Context.Snapshot.Maps);
        int length = VariableEvaluator.Measure(compiled, Context);
        var buffer = new byte[length];
        int written = VariableEvaluator.Write(compiled, Context, buffer);
        Assert.Equal(length, written);
        return Encoding.Latin1.GetString(buffer);
    }

    /// <summary>The head the forwarder would send upstream.</summary>
    public string UpstreamHead(UpstreamBodyFraming framing = UpstreamBodyFraming.None, long contentLength = 0, bool upgrade = false,
        bool keepAlive = true) => UpstreamHead(out _, framing, contentLength, upgrade, keepAlive);

    public string UpstreamHead(out bool reusable, UpstreamBodyFraming framing = UpstreamBodyFraming.None, long contentLength = 0,
        bool upgrade = false, bool keepAlive = true)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new BufferWriter(output);
        reusable = RequestHeadWriter.Write(ref writer, Context, Location, Runtime, framing, contentLength, upgrade, keepAlive);
        writer.Commit();
        return Encoding.Latin1.GetString(output.WrittenSpan);
    }

    /// <summary>The head the client would receive for a backend response.</summary>
    public string ClientHead(string backendResponseHead, bool dropTransferEncoding = false, ClientConnectionMode mode = ClientConnectionMode.KeepAlive)
    {
        var response = new HttpResponseHead();
        var status = Http1Parser.ParseResponseHead(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(backendResponseHead)), response,
            Http1ParserOptions.Default, out _, out _);
        Assert.Equal(Http1Status.Complete, status);
        var output = new ArrayBufferWriter<byte>();
        var writer = new BufferWriter(output);
        ResponseHeadWriter.Write(ref writer, response, Runtime, new DateHeader(TimeProvider.System), Context, dropTransferEncoding, mode);
        writer.Commit();
        return Encoding.Latin1.GetString(output.WrittenSpan);
    }
}
