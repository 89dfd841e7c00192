using System.Text;
using FastProxy.Config;

namespace FastProxy.Runtime;

/// <summary>A proxy_set_header entry compiled: the name as bytes and what it means to the head writer.</summary>
internal sealed class SetHeader(byte[] name, CompiledTemplate value)
{
    public byte[] Name { get; } = name;
    public CompiledTemplate Value { get; } = value;
    public bool IsConnection { get; } = System.Text.Ascii.EqualsIgnoreCase(name, "connection"u8);
}

/// <summary>An add_header entry compiled.</summary>
internal sealed class AddHeader(byte[] name, CompiledTemplate value, bool always)
{
    public byte[] Name { get; } = name;
    public CompiledTemplate Value { get; } = value;
    public bool Always { get; } = always;
}

/// <summary>
/// Everything the forwarder needs about one location's settings, computed once per snapshot: the cluster, the
/// compiled header templates, which default headers the operator overrode, the response fields to hide, the
/// <c>return</c>. Requests look it up by reference and never touch the records again.
/// </summary>
internal sealed partial class LocationRuntime
{
    // ngx_http_proxy_hide_headers: the upstream's Date and Server are replaced by the proxy's own, X-Pad and the
    // X-Accel-* control fields are for the proxy itself.
    private static readonly string[] s_defaultHidden =
        ["date", "server", "x-pad", "x-accel-expires", "x-accel-redirect", "x-accel-limit-rate", "x-accel-buffering", "x-accel-charset"];

    public LocationRuntime(LocationSettings settings, ClusterRuntime? cluster, IReadOnlyDictionary<string, MapRuntime> maps,
        LimitRuntime? limits = null)
    {
        Settings = settings;
        Cluster = cluster;
        Limits = limits;
        var setHeaders = new List<SetHeader>();
        foreach (var header in settings.ProxySetHeaders)
        {
            var name = Encoding.ASCII.GetBytes(header.Name);
            setHeaders.Add(new SetHeader(name, CompiledTemplate.Compile(header.Value, maps)));
            switch (header.Name.ToLowerInvariant())
            {
                case "host": SetsHost = true; break;
                case "connection": SetsConnection = true; break;
                case "upgrade": SetsUpgrade = true; break;
                // The body framing is always FastProxy's own (never a template's): see RequestHeadWriter.
                case "content-length":
                case "transfer-encoding":
                    setHeaders.RemoveAt(setHeaders.Count - 1);
                    break;
            }
        }
        SetHeaders = [.. setHeaders];

        // ngx_http_upstream_hide_headers_hash: nginx's defaults and proxy_hide_header, less proxy_pass_header.
        var hidden = new List<byte[]>();
        foreach (var name in s_defaultHidden)
        {
            if (!Contains(settings.ProxyPassHeaders, name))
            {
                hidden.Add(Encoding.ASCII.GetBytes(name));
            }
        }
        foreach (var name in settings.ProxyHideHeaders)
        {
            string lower = name.ToLowerInvariant();
            if (!Contains(settings.ProxyPassHeaders, lower) && !Array.Exists(s_defaultHidden, d => d == lower))
            {
                hidden.Add(Encoding.ASCII.GetBytes(lower));
            }
        }
        HiddenResponseFields = [.. hidden];
        foreach (var name in HiddenResponseFields)
        {
            _hiddenLengths |= 1UL << Math.Min(name.Length, 63);
        }
        PassUpstreamDate = Contains(settings.ProxyPassHeaders, "date");
        PassUpstreamServer = Contains(settings.ProxyPassHeaders, "server");

        var addHeaders = new List<AddHeader>();
        foreach (var header in settings.AddHeaders)
        {
            addHeaders.Add(new AddHeader(Encoding.ASCII.GetBytes(header.Name), CompiledTemplate.Compile(header.Value, maps), header.Always));
        }
        AddHeaders = [.. addHeaders];

        if (settings.Return is { } ret)
        {
            ReturnStatus = ret.StatusCode;
            ReturnText = ret.Text is null ? null : CompiledTemplate.Compile(ret.Text, maps);
        }

        UpstreamHttp10 = settings.ProxyHttpVersion == "1.0";

        if (settings.ProxyPass is { } pass)
        {
            // $proxy_host: the upstream name, or host:port with the port left out when it is the scheme's default.
            bool defaultPort = pass.Port is null || pass.Port == (pass.Scheme == "https" ? 443 : 80);
            string proxyHost = pass.IsNamedUpstream || defaultPort ? pass.Host : $"{pass.Host}:{pass.Port}";
            ProxyHost = Encoding.ASCII.GetBytes(proxyHost);
            ProxyPort = Encoding.ASCII.GetBytes((pass.Port ?? (pass.Scheme == "https" ? 443 : 80)).ToString(System.Globalization.CultureInfo.InvariantCulture));
            IsHttpsUpstream = pass.Scheme == "https";
        }

        InitializeRequestPhases(settings, maps);
    }

    private static bool Contains(IReadOnlyList<string> names, string lowerName)
    {
        foreach (var n in names)
        {
            if (string.Equals(n, lowerName, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    public LocationSettings Settings { get; }

    /// <summary>The upstream group of proxy_pass; null when the location does not proxy.</summary>
    public ClusterRuntime? Cluster { get; }

    /// <summary>realip, limit_req and limit_conn of this context; null when it has none (the request pays a null check).</summary>
    public LimitRuntime? Limits { get; }

    public SetHeader[] SetHeaders { get; }
    public bool SetsHost { get; }
    public bool SetsConnection { get; }
    public bool SetsUpgrade { get; }

    /// <summary>Lower-case names of response fields not passed to the client.</summary>
    public byte[][] HiddenResponseFields { get; }

    // Bit n set: some hidden name is n bytes long (bit 63: 63 or more).
    private readonly ulong _hiddenLengths;

    public bool PassUpstreamDate { get; }
    public bool PassUpstreamServer { get; }

    public AddHeader[] AddHeaders { get; }

    /// <summary><c>return</c>: status (0 = none) and text/URL.</summary>
    public int ReturnStatus { get; }
    public CompiledTemplate? ReturnText { get; }

    public bool UpstreamHttp10 { get; }
    public bool IsHttpsUpstream { get; }

    /// <summary>proxy_pass https://: the TLS context and the pools keyed by its settings (built with the snapshot).</summary>
    public UpstreamTlsRuntime? UpstreamTls { get; init; }

    public byte[] ProxyHost { get; } = [];

    /// <summary>Where requests that end in this location are logged (access_log); set when the snapshot is built.</summary>
    public Diagnostics.AccessLogTarget[] AccessLogs { get; internal set; } = [];
    public byte[] ProxyPort { get; } = [];

    /// <summary>True when a client field of this name is replaced by a proxy_set_header of the same name.</summary>
    public bool IsSetHeader(ReadOnlySpan<byte> name)
    {
        foreach (var header in SetHeaders)
        {
            if (header.Name.Length == name.Length && System.Text.Ascii.EqualsIgnoreCase(header.Name, name))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>True when a response field of this name is hidden (defaults + proxy_hide_header − proxy_pass_header).</summary>
    public bool IsHiddenResponseField(ReadOnlySpan<byte> name)
    {
        // Most fields of a response have a length no hidden name has: one bit test instead of comparing with each.
        if ((_hiddenLengths & (1UL << Math.Min(name.Length, 63))) == 0)
        {
            return false;
        }
        foreach (var hidden in HiddenResponseFields)
        {
            if (hidden.Length == name.Length && System.Text.Ascii.EqualsIgnoreCase(hidden, name))
            {
                return true;
            }
        }
        return false;
    }
}
