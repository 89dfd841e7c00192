using System.Buffers;
using System.Text;
using static FastProxy.Http1.Tests.TestSequences;

namespace FastProxy.Http1.Tests;

/// <summary>Runs the parser and renders what it found as one comparable string.</summary>
internal static class ParseHelper
{
    public readonly record struct Outcome(Http1Status Status, long Consumed, long Examined, string Description);

    public static Outcome Request(in ReadOnlySequence<byte> input, Http1ParserOptions? options = null, long previouslyExamined = 0, HttpRequestHead? head = null)
    {
        head ??= new HttpRequestHead();
        Http1Status status = Http1Parser.ParseRequestHead(input, head, options ?? Http1ParserOptions.Default, previouslyExamined, out SequencePosition consumed, out SequencePosition examined);
        return new Outcome(status, Offset(input, consumed), Offset(input, examined), status == Http1Status.Complete ? Describe(head) : "");
    }

    public static Outcome Request(string text, Http1ParserOptions? options = null) => Request(Single(Bytes(text)), options);

    public static Outcome Response(in ReadOnlySequence<byte> input, Http1ParserOptions? options = null, long previouslyExamined = 0, HttpResponseHead? head = null)
    {
        head ??= new HttpResponseHead();
        Http1Status status = Http1Parser.ParseResponseHead(input, head, options ?? Http1ParserOptions.Default, previouslyExamined, out SequencePosition consumed, out SequencePosition examined);
        return new Outcome(status, Offset(input, consumed), Offset(input, examined), status == Http1Status.Complete ? Describe(head) : "");
    }

    public static Outcome Response(string text, Http1ParserOptions? options = null) => Response(Single(Bytes(text)), options);

    public static HttpRequestHead ParsedRequest(string text, Http1ParserOptions? options = null)
    {
        var head = new HttpRequestHead();
        Outcome outcome = Request(Single(Bytes(text)), options, head: head);
        Assert.Equal(Http1Status.Complete, outcome.Status);
        return head;
    }

    public static HttpResponseHead ParsedResponse(string text, Http1ParserOptions? options = null)
    {
        var head = new HttpResponseHead();
        Outcome outcome = Response(Single(Bytes(text)), options, head: head);
        Assert.Equal(Http1Status.Complete, outcome.Status);
        return head;
    }

    public static string Describe(HttpRequestHead head)
    {
        var s = new StringBuilder();
        s.Append($"{head.Method} {Text(head.MethodBytes)} {head.TargetForm} target={Text(head.Target)} path={Text(head.Path)} ");
        s.Append($"query={(head.QueryOffset < 0 ? "<none>" : Text(head.Query))} host={Text(head.Host)} ");
        s.Append($"authority={head.AuthorityOffset}/{head.AuthorityLength} hostField={head.HostFieldIndex} expect={head.ExpectContinue} ");
        AppendCommon(s, head);
        return s.ToString();
    }

    public static string Describe(HttpResponseHead head)
    {
        var s = new StringBuilder();
        s.Append($"{head.StatusCode} reason={Text(head.Reason)} ");
        AppendCommon(s, head);
        return s.ToString();
    }

    private static void AppendCommon(StringBuilder s, HttpHead head)
    {
        s.Append($"{head.Version} len={head.HeadLength} raw={head.Raw.Length} cl={head.ContentLength} chunked={head.IsChunked} ");
        s.Append($"conn={head.Connection} upgrade={head.UpgradeFieldIndex} keepAlive={head.KeepAlive} fields=");
        foreach (HttpField field in head.Fields)
        {
            s.Append($"[{field.Known}:{Text(head.GetName(field))}={Text(head.GetValue(field))}|{Text(head.Raw.Span.Slice(field.LineOffset, field.LineLength))}]");
        }
    }
}
