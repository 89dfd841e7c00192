using System.Text.RegularExpressions;
using FastProxy.Config;
using FastProxy.Forwarding;
using FastProxy.Http;
using FastProxy.Routing;

namespace FastProxy.Runtime;

/// <summary>What one <c>rewrite</c> did (ngx_http_script_regex_start_code / regex_end_code).</summary>
internal enum RewriteStep : byte
{
    /// <summary>The regex did not match: the captures are cleared, the next directive runs.</summary>
    NoMatch,
    /// <summary>$uri (and $args) changed; without a flag the next directive runs.</summary>
    Rewritten,
    /// <summary>A redirect: the Location is in the request's scratch buffer.</summary>
    Redirect,
    /// <summary>The rewritten URI is empty: nginx answers 500 ("the rewritten URI has a zero length").</summary>
    Failed,
}

/// <summary>
/// One <c>rewrite regex replacement [flag]</c> compiled. The replacement is split at its first literal "?" the way
/// nginx compiles it: before it the new $uri, after it the new $args; a "?" at the very end drops the request's
/// arguments, otherwise they are appended ("&amp;" after new arguments).
/// </summary>
internal sealed class RewriteRule
{
    private RewriteRule(Regex regex, CompiledTemplate uri, CompiledTemplate? args, bool addArgs, RewriteFlag flag)
    {
        Regex = regex;
        Uri = uri;
        Args = args;
        AddArgs = addArgs;
        Flag = flag;
        RedirectStatus = flag switch { RewriteFlag.Permanent => 301, RewriteFlag.Redirect => 302, _ => 0 };
    }

    public Regex Regex { get; }

    /// <summary>The replacement up to its first literal "?" (all of it when it has none).</summary>
    public CompiledTemplate Uri { get; }

    /// <summary>The replacement after its first literal "?", null when it has none.</summary>
    public CompiledTemplate? Args { get; }

    /// <summary>False when the replacement ended with "?": the request's arguments are dropped.</summary>
    public bool AddArgs { get; }

    public RewriteFlag Flag { get; }

    /// <summary>301 (permanent), 302 (redirect, or a replacement starting with http://, https://, $scheme), else 0.</summary>
    public int RedirectStatus { get; }

    public static RewriteRule[]? Compile(IReadOnlyList<RewriteConfig> rewrites, IReadOnlyDictionary<string, MapRuntime> maps)
    {
        if (rewrites.Count == 0)
        {
            return null;
        }
        var rules = new RewriteRule[rewrites.Count];
        for (int i = 0; i < rules.Length; i++)
        {
            var rewrite = rewrites[i];
            string source = rewrite.Replacement.Source;
            bool addArgs = true;
            if (source.EndsWith('?'))
            {
                source = source[..^1];
                addArgs = false;
            }
            int question = FirstLiteralQuestionMark(source);
            var uri = ValueTemplate.Parse(question < 0 ? source : source[..question]);
            var args = question < 0 ? null : ValueTemplate.Parse(source[(question + 1)..]);
            rules[i] = new RewriteRule(NginxRegex.Create(rewrite.Regex, ignoreCase: false), CompiledTemplate.Compile(uri, maps),
                args is null ? null : CompiledTemplate.Compile(args, maps), addArgs, rewrite.Flag);
        }
        return rules;
    }

    /// <summary>The index of the first "?" outside a variable name ("$name" or "${name}"), or -1.</summary>
    internal static int FirstLiteralQuestionMark(string source)
    {
        for (int i = 0; i < source.Length; i++)
        {
            char c = source[i];
            if (c == '?')
            {
                return i;
            }
            if (c != '$' || i + 1 >= source.Length)
            {
                continue;
            }
            if (source[i + 1] == '{')
            {
                int close = source.IndexOf('}', i + 2);
                i = close < 0 ? source.Length : close;
                continue;
            }
            while (i + 1 < source.Length && (char.IsAsciiLetterOrDigit(source[i + 1]) || source[i + 1] == '_'))
            {
                i++;
            }
        }
        return -1;
    }

    /// <summary>
    /// Runs this rule on the request's $uri. On a match, either $uri/$args are replaced (nginx keeps the captures,
    /// which later directives may read) or, for a redirect, the Location is built into the scratch buffer
    /// (<paramref name="redirectLength"/> bytes).
    /// </summary>
    public RewriteStep Apply(RequestContext context, bool captures, out int redirectLength)
    {
        redirectLength = 0;
        // The rewrite's own replacement reads its captures: capture whenever the replacement or anything else may.
        if (!RegexCaptures.Match(Regex, context.Uri, context, captures))
        {
            context.ClearCaptures();
            return RewriteStep.NoMatch;
        }
        // ngx_http_script_copy_capture_code: captures going into the arguments or a redirect are escaped when the
        // client's path had "%" or "+" (its $uri was decoded from an escaped form).
        bool quoted = context.QuotedUri;
        var currentArgs = context.Args;
        if (RedirectStatus != 0)
        {
            int uriLength = Measure(Uri, context, quoted);
            int argsLength = Args is null ? 0 : 1 + Measure(Args, context, quoted);
            int extra = AddArgs && !currentArgs.IsEmpty ? 1 + currentArgs.Length : 0;
            var buffer = context.RewriteScratch(uriLength + argsLength + extra);
            int n = Write(Uri, context, quoted, buffer);
            if (Args is not null)
            {
                buffer[n++] = (byte)'?';
                n += Write(Args, context, quoted, buffer[n..]);
            }
            n = UnescapeRedirect(buffer[..n]);
            if (extra > 0)
            {
                buffer[n++] = Args is null ? (byte)'?' : (byte)'&';
                currentArgs.CopyTo(buffer[n..]);
                n += currentArgs.Length;
            }
            redirectLength = n;
            return RewriteStep.Redirect;
        }

        int newUriLength = Measure(Uri, context, escapeCaptures: false);
        int newArgsLength = Args is null
            ? (AddArgs ? currentArgs.Length : 0)
            : Measure(Args, context, quoted) + (AddArgs && !currentArgs.IsEmpty ? 1 + currentArgs.Length : 0);
        var target = context.RewriteScratch(newUriLength + newArgsLength);
        int written = Write(Uri, context, escapeCaptures: false, target);
        int argsStart = written;
        if (Args is not null)
        {
            written += Write(Args, context, quoted, target[written..]);
            if (AddArgs && !currentArgs.IsEmpty)
            {
                target[written++] = (byte)'&';
                currentArgs.CopyTo(target[written..]);
                written += currentArgs.Length;
            }
        }
        else if (AddArgs)
        {
            currentArgs.CopyTo(target[written..]);
            written += currentArgs.Length;
        }
        if (argsStart == 0)
        {
            return RewriteStep.Failed;
        }
        context.CommitRewrite(argsStart, written - argsStart);
        return RewriteStep.Rewritten;
    }

    private static int Measure(CompiledTemplate template, RequestContext context, bool escapeCaptures) =>
        Evaluate(template, context, escapeCaptures, default, measure: true);

    private static int Write(CompiledTemplate template, RequestContext context, bool escapeCaptures, Span<byte> destination) =>
        Evaluate(template, context, escapeCaptures, destination, measure: false);

    private static int Evaluate(CompiledTemplate template, RequestContext context, bool escapeCaptures, Span<byte> destination, bool measure)
    {
        if (template.Literal is { } literal)
        {
            if (!measure)
            {
                literal.CopyTo(destination);
            }
            return literal.Length;
        }
        int total = 0;
        foreach (ref readonly var part in template.Parts.AsSpan())
        {
            var rest = measure ? default : destination[total..];
            if (escapeCaptures && part.Literal is null && part.Kind == VariableKind.RegexCapture)
            {
                total += EscapeArgs(context.Capture(part.Argument![0] - '0'), rest, measure);
                continue;
            }
            total += VariableEvaluator.EvaluatePart(in part, context, rest, measure, depth: 0);
        }
        return total;
    }

    /// <summary>ngx_escape_uri(NGX_ESCAPE_ARGS): " ", "#", "%", "&amp;", "+", ";", "?", controls and bytes from 0x7F.</summary>
    private static int EscapeArgs(ReadOnlySpan<byte> value, Span<byte> destination, bool measure)
    {
        int n = 0;
        foreach (byte b in value)
        {
            bool escape = b < 0x20 || b >= 0x7F || b is (byte)' ' or (byte)'#' or (byte)'%' or (byte)'&' or (byte)'+' or (byte)';' or (byte)'?';
            if (!escape)
            {
                if (!measure)
                {
                    destination[n] = b;
                }
                n++;
                continue;
            }
            if (!measure)
            {
                destination[n] = (byte)'%';
                destination[n + 1] = (byte)"0123456789ABCDEF"[b >> 4];
                destination[n + 2] = (byte)"0123456789ABCDEF"[b & 15];
            }
            n += 3;
        }
        return n;
    }

    /// <summary>
    /// ngx_unescape_uri(NGX_UNESCAPE_REDIRECT) in place, up to the first "?": an escape is decoded only when it gives
    /// a printable character above "%" (so "%20", "%25" and non-ASCII stay escaped); a malformed escape loses its "%"
    /// ("%x" keeps "x", "%4x" is dropped), as nginx does. Returns the new length.
    /// </summary>
    internal static int UnescapeRedirect(Span<byte> value)
    {
        int d = 0;
        int s = 0;
        while (s < value.Length)
        {
            byte ch = value[s++];
            if (ch == (byte)'?')
            {
                value[d++] = ch;
                break;
            }
            if (ch != (byte)'%')
            {
                value[d++] = ch;
                continue;
            }
            if (s >= value.Length)
            {
                return d; // a trailing "%": nginx ends in sw_quoted and writes nothing more
            }
            int hi = Hex(value[s]);
            if (hi < 0)
            {
                value[d++] = value[s++];
                continue;
            }
            if (s + 1 >= value.Length)
            {
                return d;
            }
            byte second = value[s + 1];
            int lo = Hex(second);
            if (lo < 0)
            {
                s += 2;
                continue;
            }
            byte decoded = (byte)((hi << 4) | lo);
            if (decoded == (byte)'?' && second > (byte)'9')
            {
                // nginx ends the path at an escaped "?" written with a hex letter ("%3F"/"%3f").
                value[d++] = decoded;
                s += 2;
                break;
            }
            if (decoded > (byte)'%' && decoded < 0x7F)
            {
                value[d++] = decoded;
            }
            else
            {
                value[d++] = (byte)'%';
                value[d++] = value[s];
                value[d++] = second;
            }
            s += 2;
        }
        // The rest (after "?") is kept as it is.
        while (s < value.Length)
        {
            value[d++] = value[s++];
        }
        return d;
    }

    private static int Hex(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
