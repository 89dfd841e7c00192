using System.Buffers;
using System.Text.RegularExpressions;
using FastProxy.Config;
using FastProxy.Forwarding;
using FastProxy.Http;
using FastProxy.Infrastructure;
using FastProxy.Routing;

namespace FastProxy.Runtime;

/// <summary>
/// One <c>proxy_redirect</c> rule compiled (ngx_http_proxy_rewrite_complex_handler / _regex_handler): a text pattern
/// (variables allowed) that must be a case-sensitive prefix of the Location (or of a Refresh's "url=" part) and is
/// replaced, or a <c>~</c>/<c>~*</c> regex whose match replaces the whole rest.
/// </summary>
internal sealed class ProxyRedirectRule
{
    private ProxyRedirectRule(CompiledTemplate? pattern, Regex? regex, CompiledTemplate replacement)
    {
        Pattern = pattern;
        Regex = regex;
        Replacement = replacement;
    }

    public CompiledTemplate? Pattern { get; }
    public Regex? Regex { get; }
    public CompiledTemplate Replacement { get; }

    /// <summary>
    /// The rules of a location: explicit ones from <paramref name="redirects"/>, or nginx's <c>default</c> when it is
    /// null: the proxy_pass URL as written replaced by the location name, or without a URI "URL/" by "/".
    /// Empty (off) when there is no proxy_pass.
    /// </summary>
    public static ProxyRedirectRule[] Compile(IReadOnlyList<ProxyRedirectConfig>? redirects, ProxyPassConfig? proxyPass,
        string? locationName, IReadOnlyDictionary<string, MapRuntime> maps)
    {
        if (redirects is null)
        {
            if (proxyPass is null || locationName is null)
            {
                return [];
            }
            string url = proxyPass.Url
                ?? $"{proxyPass.Scheme}://{proxyPass.Host}{(proxyPass.Port is int p && !proxyPass.IsNamedUpstream ? ":" + p : "")}{proxyPass.Uri}";
            return proxyPass.Uri is null
                ? [Literal(url + "/", "/")]
                : [Literal(url, locationName)];
        }
        var rules = new ProxyRedirectRule[redirects.Count];
        for (int i = 0; i < rules.Length; i++)
        {
            var redirect = redirects[i];
            var replacement = CompiledTemplate.Compile(redirect.Replacement, maps);
            string pattern = redirect.Redirect;
            if (pattern.StartsWith('~'))
            {
                bool caseless = pattern.StartsWith("~*", StringComparison.Ordinal);
                rules[i] = new ProxyRedirectRule(null, NginxRegex.Create(pattern[(caseless ? 2 : 1)..], caseless), replacement);
            }
            else
            {
                rules[i] = new ProxyRedirectRule(CompiledTemplate.Compile(ValueTemplate.Parse(pattern), maps), null, replacement);
            }
        }
        return rules;
    }

    private static ProxyRedirectRule Literal(string pattern, string replacement) =>
        new(CompiledTemplate.Compile(ValueTemplate.Parse(pattern), EmptyMaps), null, CompiledTemplate.Compile(ValueTemplate.Parse(replacement), EmptyMaps));

    private static readonly Dictionary<string, MapRuntime> EmptyMaps = new(StringComparer.Ordinal);

    /// <summary>
    /// Writes the value of a Location (<paramref name="refresh"/> false) or Refresh field through the rules: the
    /// first rule that applies rewrites it; a rewritten Location that starts with "/" is made absolute, as nginx's
    /// header filter does (absolute_redirect). Returns false, writing nothing, when no rule applies.
    /// </summary>
    public static bool TryWrite(ProxyRedirectRule[] rules, ReadOnlySpan<byte> value, bool refresh, RequestContext context,
        bool captures, ref BufferWriter writer)
    {
        int prefix = 0;
        if (refresh)
        {
            // ngx_http_upstream_rewrite_refresh: only the part after "url=" (any case).
            int url = IndexOfUrl(value);
            if (url < 0)
            {
                return false;
            }
            prefix = url + 4;
        }
        var rest = value[prefix..];
        foreach (var rule in rules)
        {
            int replaced;
            if (rule.Regex is { } regex)
            {
                if (!RegexCaptures.Match(regex, rest, context, captures))
                {
                    continue;
                }
                replaced = rest.Length;
            }
            else
            {
                var pattern = rule.Pattern!;
                if (pattern.Literal is { } literal)
                {
                    if (!rest.StartsWith(literal))
                    {
                        continue;
                    }
                    replaced = literal.Length;
                }
                else if (!MatchesTemplate(pattern, rest, context, out replaced))
                {
                    continue;
                }
            }
            Write(rule.Replacement, value[..prefix], rest[replaced..], absolute: !refresh, context, ref writer);
            return true;
        }
        return false;
    }

    private static bool MatchesTemplate(CompiledTemplate pattern, ReadOnlySpan<byte> rest, RequestContext context, out int length)
    {
        length = VariableEvaluator.Measure(pattern, context);
        if (length > rest.Length)
        {
            return false;
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            int n = VariableEvaluator.Write(pattern, context, buffer);
            return rest.StartsWith(buffer.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void Write(CompiledTemplate replacement, ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, bool absolute,
        RequestContext context, ref BufferWriter writer)
    {
        int length = VariableEvaluator.Measure(replacement, context);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(head.Length + length + tail.Length + 1);
        try
        {
            head.CopyTo(buffer);
            int n = head.Length + VariableEvaluator.Write(replacement, context, buffer.AsSpan(head.Length));
            tail.CopyTo(buffer.AsSpan(n));
            n += tail.Length;
            var result = buffer.AsSpan(0, n);
            if (absolute)
            {
                AbsoluteRedirect.WriteValue(ref writer, context, result);
            }
            else
            {
                writer.Write(result);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int IndexOfUrl(ReadOnlySpan<byte> value)
    {
        for (int i = 0; i + 4 <= value.Length; i++)
        {
            if ((value[i] | 0x20) == 'u' && (value[i + 1] | 0x20) == 'r' && (value[i + 2] | 0x20) == 'l' && value[i + 3] == '=')
            {
                return i;
            }
        }
        return -1;
    }
}

/// <summary>
/// nginx's absolute_redirect (on by default): a Location FastProxy sends that starts with "/" gets the scheme, the
/// request's host (the Host field, else the local address) and the port the connection came in on, unless it is the
/// scheme's default (port_in_redirect).
/// </summary>
internal static class AbsoluteRedirect
{
    public static void WriteValue(ref BufferWriter writer, RequestContext context, ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty || value[0] != (byte)'/')
        {
            WriteEscapingControls(ref writer, value);
            return;
        }
        var scheme = RequestContext.Scheme;
        writer.Write(scheme);
        writer.Write("://"u8);
        if (context.Host.Length > 0)
        {
            writer.Write(context.Host);
        }
        else if (context.ServerAddr.AsSpan().Contains((byte)':'))
        {
            writer.Write((byte)'[');
            writer.Write(context.ServerAddr);
            writer.Write((byte)']');
        }
        else
        {
            writer.Write(context.ServerAddr);
        }
        var port = context.ServerPort;
        bool defaultPort = scheme.Length == 5 ? port.AsSpan().SequenceEqual("443"u8) : port.AsSpan().SequenceEqual("80"u8);
        if (!defaultPort)
        {
            writer.Write((byte)':');
            writer.Write(port);
        }
        WriteEscapingControls(ref writer, value);
    }

    /// <summary>
    /// A Location built from $uri or captures may hold decoded control bytes ("%0D%0A" in the path): they are written
    /// escaped again, so no client can add a field to the response (nginx writes them raw).
    /// </summary>
    private static void WriteEscapingControls(ref BufferWriter writer, ReadOnlySpan<byte> value)
    {
        while (true)
        {
            int bad = value.IndexOfAnyInRange((byte)0, (byte)0x1F);
            if (bad < 0)
            {
                writer.Write(value);
                return;
            }
            writer.Write(value[..bad]);
            byte b = value[bad];
            writer.Write((byte)'%');
            writer.Write((byte)"0123456789ABCDEF"[b >> 4]);
            writer.Write((byte)"0123456789ABCDEF"[b & 15]);
            value = value[(bad + 1)..];
        }
    }

    /// <summary>"Location: " + the value (made absolute) + CRLF.</summary>
    public static void WriteField(ref BufferWriter writer, RequestContext context, ReadOnlySpan<byte> value)
    {
        writer.Write("Location: "u8);
        WriteValue(ref writer, context, value);
        writer.WriteCrlf();
    }
}
