using FastProxy.Config;
using FastProxy.Routing;

namespace FastProxy.Runtime;

/// <summary>The compiled rewrite, access and proxy_redirect settings of a location (null when it has none).</summary>
internal sealed partial class LocationRuntime
{
    private IReadOnlyDictionary<string, MapRuntime> _maps = null!;
    private ProxyRedirectRule[]? _redirects;

    /// <summary><c>rewrite</c> directives in order; null when there are none.</summary>
    public RewriteRule[]? Rewrites { get; private set; }

    /// <summary>True when nginx's rewrite phase has something to do here: a <c>rewrite</c>, <c>break</c> or <c>return</c>.</summary>
    public bool HasRewritePhase { get; private set; }

    /// <summary><c>allow</c>/<c>deny</c>; null when there are none.</summary>
    public AccessList? Access { get; private set; }

    private void InitializeRequestPhases(LocationSettings settings, IReadOnlyDictionary<string, MapRuntime> maps)
    {
        _maps = maps;
        Rewrites = RewriteRule.Compile(settings.Rewrites, maps);
        HasRewritePhase = Rewrites is not null || ReturnStatus != 0 || settings.RewriteBreak;
        Access = AccessList.Create(settings.AccessRules);
        if (settings.ProxyRedirects is not null || settings.ProxyPass is null)
        {
            _redirects = ProxyRedirectRule.Compile(settings.ProxyRedirects, settings.ProxyPass, null, maps);
        }
    }

    /// <summary>
    /// The proxy_redirect rules; nginx's default ("proxy_redirect default" alone, or nothing set) needs the location
    /// name and is built on first use.
    /// </summary>
    public ProxyRedirectRule[] GetRedirects(LocationRoute? location) =>
        _redirects ?? (location is null ? [] : _redirects = ProxyRedirectRule.Compile(null, Settings.ProxyPass, location.Config.Pattern, _maps));
}
