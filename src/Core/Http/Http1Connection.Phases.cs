using System.Runtime.CompilerServices;
using FastProxy.Config;
using FastProxy.Diagnostics;
using FastProxy.Forwarding;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.Routing;
using FastProxy.Runtime;

namespace FastProxy.Http;

/// <summary>How nginx's phases before the content phase ended.</summary>
internal enum PhaseOutcome : byte
{
    /// <summary>On to access checks and proxying with the location found.</summary>
    Continue,
    /// <summary>The runtime's <c>return</c> answers.</summary>
    Return,
    /// <summary>A redirect whose Location is in the request's scratch buffer (rewrite redirect, auto-redirect).</summary>
    Redirect,
    /// <summary>An error page (413, or 500 for a rewrite cycle or an empty rewritten URI).</summary>
    Error,
}

internal sealed partial class Http1Connection
{
    /// <summary>nginx's NGX_HTTP_MAX_URI_CHANGES: a request may find its location again at most 10 times.</summary>
    private const int MaxUriChanges = 10;

    /// <summary>
    /// nginx's phases up to access, in its order: server rewrite (the server's <c>rewrite</c>/<c>return</c>), find
    /// config (location matching, client_max_body_size against Content-Length, the auto-redirect of a proxied
    /// "/prefix/" location), location rewrite, post rewrite (a changed URI finds its location again, at most 10
    /// times, then 500). A request without rewrites only matches its location.
    /// </summary>
    private PhaseOutcome RunPhases(ProxySnapshot snapshot, ServerRoute server, LocationRuntime serverRuntime, BodyKind bodyKind,
        long contentLength, out LocationRoute? location, out LocationRuntime runtime, out int status)
    {
        location = null;
        runtime = serverRuntime;
        status = 0;
        bool uriChanged = false;
        if (serverRuntime.HasRewritePhase)
        {
            var outcome = RunRewrites(serverRuntime, ref uriChanged, out status);
            if (outcome != PhaseOutcome.Continue)
            {
                return outcome;
            }
        }

        int changes = MaxUriChanges + 1;
        while (true)
        {
            var match = snapshot.Routes.FindLocation(server, _context.Uri, out var found);
            location = match == LocationMatchStatus.None ? null : found;
            runtime = location is null ? serverRuntime : location.Runtime ?? snapshot.GetLocation(location.Settings);
            _context.Location = location;
            _context.LocationRuntime = runtime;
            if (match == LocationMatchStatus.Found && snapshot.UsesCaptures)
            {
                CaptureLocation(location!);
            }

            // ngx_http_core_find_config_phase: checked before the auto-redirect and before any rewrite or return, so a
            // client waiting for 100 Continue never sends the body.
            long max = runtime.Settings.ClientMaxBodySize;
            if (max > 0 && bodyKind == BodyKind.ContentLength && contentLength > max)
            {
                status = 413;
                return PhaseOutcome.Error;
            }
            if (match == LocationMatchStatus.AutoRedirect)
            {
                status = 301;
                return BuildAutoRedirect(location!);
            }
            // nginx skips the location rewrite phase when no location matched (the server's directives already ran).
            if (location is null || !runtime.HasRewritePhase)
            {
                return PhaseOutcome.Continue;
            }
            uriChanged = false;
            var outcome = RunRewrites(runtime, ref uriChanged, out status);
            if (outcome != PhaseOutcome.Continue || !uriChanged)
            {
                return outcome;
            }
            if (--changes == 0)
            {
                Log.RewriteCycle(_services.Logger, System.Text.Encoding.Latin1.GetString(_context.Uri));
                status = 500;
                return PhaseOutcome.Error;
            }
        }
    }

    /// <summary>
    /// nginx's rewrite module on one level: each <c>rewrite</c> in order, then the <c>return</c>. <c>last</c> and
    /// <c>break</c> stop the list (the <c>return</c> too); <c>break</c> keeps the current location (and makes
    /// proxy_pass send the whole URI); a change without a flag or with <c>last</c> sends the request to find its
    /// location again.
    /// </summary>
    private PhaseOutcome RunRewrites(LocationRuntime runtime, ref bool uriChanged, out int status)
    {
        status = 0;
        if (runtime.Rewrites is { } rules)
        {
            bool captures = _context.Snapshot.UsesCaptures;
            foreach (var rule in rules)
            {
                switch (rule.Apply(_context, captures, out int redirectLength))
                {
                    case RewriteStep.NoMatch:
                        continue;
                    case RewriteStep.Redirect:
                        status = rule.RedirectStatus;
                        _redirectLength = redirectLength;
                        return PhaseOutcome.Redirect;
                    case RewriteStep.Failed:
                        Log.RewriteEmptyUri(_services.Logger);
                        status = 500;
                        return PhaseOutcome.Error;
                }
                if (rule.Flag == RewriteFlag.Break)
                {
                    _context.LocationInvalidated = true;
                    uriChanged = false;
                    return PhaseOutcome.Continue;
                }
                uriChanged = true;
                if (rule.Flag == RewriteFlag.Last)
                {
                    return PhaseOutcome.Continue;
                }
            }
        }
        if (runtime.Settings.RewriteBreak)
        {
            // ngx_http_script_break_code: a URI changed before "break;" keeps this location.
            if (uriChanged)
            {
                _context.LocationInvalidated = true;
                uriChanged = false;
            }
            return PhaseOutcome.Continue;
        }
        return runtime.ReturnStatus != 0 ? PhaseOutcome.Return : PhaseOutcome.Continue;
    }

    private int _redirectLength;

    /// <summary>The captures of the regex location that matched (the nearest regex on the way to the location found).</summary>
    private void CaptureLocation(LocationRoute location)
    {
        for (var l = location; l is not null; l = l.Parent)
        {
            if (l.Regex is { } regex)
            {
                RegexCaptures.Match(regex, _context.Uri, _context, capture: true);
                return;
            }
        }
    }

    /// <summary>ngx_http_core_find_config_phase: Location is the location's name, with "?" and the arguments if any.</summary>
    private PhaseOutcome BuildAutoRedirect(LocationRoute location)
    {
        var name = location.PatternBytes;
        var args = _context.Args;
        int length = name.Length + (args.IsEmpty ? 0 : 1 + args.Length);
        var buffer = _context.RewriteScratch(length);
        name.CopyTo(buffer);
        if (!args.IsEmpty)
        {
            buffer[name.Length] = (byte)'?';
            args.CopyTo(buffer[(name.Length + 1)..]);
        }
        _redirectLength = length;
        return PhaseOutcome.Redirect;
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> AnswerPhaseAsync(PhaseOutcome outcome, int status, LocationRuntime runtime, bool keepAlive,
        BodyKind bodyKind, long contentLength)
    {
        switch (outcome)
        {
            case PhaseOutcome.Return:
                return await ReturnAsync(runtime, keepAlive, bodyKind, contentLength);
            case PhaseOutcome.Redirect:
                keepAlive = await PrepareAnswerAsync(status, keepAlive, bodyKind, contentLength);
                WriteRedirect(runtime, status, keepAlive);
                return await FlushClientAsync() && keepAlive;
            default:
                return await RespondAsync(status, keepAlive, bodyKind, contentLength);
        }
    }

    /// <summary>A redirect FastProxy answers itself: the Location (made absolute) and nginx's status page.</summary>
    private void WriteRedirect(LocationRuntime runtime, int status, bool keepAlive)
    {
        long before = ClientUnflushed;
        var writer = new BufferWriter(_output);
        StatusResponses.WriteStatusLine(ref writer, status);
        writer.Write(_services.Date.Line);
        var body = StatusResponses.PageFor(status, out var pageHeaders);
        writer.Write(pageHeaders);
        AbsoluteRedirect.WriteField(ref writer, _context, _context.ScratchBytes(_redirectLength));
        writer.Write(keepAlive ? StatusResponses.ConnectionKeepAlive : StatusResponses.ConnectionClose);
        ResponseHeadWriter.WriteAddHeaders(ref writer, runtime, _context, status);
        writer.WriteCrlf();
        if (_head.Method != Http1Method.Head)
        {
            writer.Write(body);
        }
        writer.Commit();
        CountResponseHead(status, before, _head.Method != Http1Method.Head ? body.Length : 0);
    }
}
