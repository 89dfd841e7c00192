using FastProxy.LoadBalancing;

namespace FastProxy.Config;

internal sealed partial class ConfigBuilder
{
    private void UpstreamBlock(ConfDirective d)
    {
        string name = d.Args[0];
        // ngx_http_upstream_add: upstream names compare case-insensitively.
        if (_upstreams.Exists(u => string.Equals(u.Name, name, StringComparison.OrdinalIgnoreCase)))
        {
            Error(d, $"duplicate upstream \"{name}\"");
            return;
        }
        var upstream = new UpstreamDraft(name, d);
        _upstreams.Add(upstream);
        int errorsBefore = _diagnostics.Count(x => x.IsError);
        Walk(d.Block!, ConfContext.Upstream, upstream);
        // Not when a bad "server" line already explains why the block is empty.
        if (upstream.Servers.Count == 0 && _diagnostics.Count(x => x.IsError) == errorsBefore)
        {
            Error(d, "no servers are inside upstream");
        }
    }

    private void Upstream(ConfDirective d, UpstreamDraft u)
    {
        var a = d.Args;
        switch (d.Name)
        {
            case "server":
                UpstreamServer(d, u);
                return;
            case "least_conn":
                SetPolicy(d, u, LoadBalancingPolicies.LeastConnections);
                return;
            case "ip_hash":
                SetPolicy(d, u, LoadBalancingPolicies.IpHash);
                return;
            case "hash":
                if (a.Count == 2 && a[1] != "consistent")
                {
                    InvalidParameter(d, a[1]);
                    return;
                }
                u.HashKey = AddTemplate(d, a[0]);
                u.HashConsistent = a.Count == 2;
                SetPolicy(d, u, LoadBalancingPolicies.Hash);
                return;
            case "random":
                // random [two [least_conn]]: "two" picks two at random and keeps the less loaded (least_conn, the only method).
                if (a.Count >= 1 && a[0] != "two")
                {
                    InvalidParameter(d, a[0]);
                    return;
                }
                if (a.Count == 2 && a[1] != "least_conn")
                {
                    InvalidParameter(d, a[1]);
                    return;
                }
                u.RandomTwo = a.Count >= 1;
                // The power-of-two-choices variant is its own policy (LoadBalancingPolicies.RandomTwo).
                SetPolicy(d, u, u.RandomTwo ? LoadBalancingPolicies.RandomTwo : LoadBalancingPolicies.Random);
                return;
            case "keepalive":
                if (!ConfigValues.TryParseInt(a[0], out int n) || n == 0)
                {
                    Error(d, $"invalid value \"{a[0]}\" in \"{d.Name}\" directive");
                    return;
                }
                u.Keepalive = n;
                return;
            case "keepalive_timeout":
                if (a.Count != 1)
                {
                    Error(d, $"invalid number of arguments in \"{d.Name}\" directive");
                    return;
                }
                u.KeepaliveTimeout = Time(d, a[0]);
                return;
            case "keepalive_requests":
                u.KeepaliveRequests = Number(d, a[0]);
                return;
            case "health_check":
                HealthCheck(d, u);
                return;
        }
        Error(d, $"\"{d.Name}\" directive is not allowed here");
    }

    private void SetPolicy(ConfDirective d, UpstreamDraft u, string policy)
    {
        if (u.PolicyDirective is not null)
        {
            // nginx: "load balancing method redefined" (a warning); the last one wins.
            Warn(d, "load balancing method redefined");
        }
        u.Policy = policy;
        u.PolicyDirective = d;
    }

    /// <summary>ngx_http_upstream_server: "server address [weight=N] [max_fails=N] [fail_timeout=T] [backup] [down] [max_conns=N] [slow_start=T]".</summary>
    private void UpstreamServer(ConfDirective d, UpstreamDraft u)
    {
        var a = d.Args;
        if (a[0].StartsWith("unix:", StringComparison.Ordinal))
        {
            Error(d, $"unix sockets in upstream \"{a[0]}\" are not supported by FastProxy");
            return;
        }
        if (!TrySplitHostPort(a[0], out string host, out int? port))
        {
            Error(d, $"invalid port in upstream \"{a[0]}\"");
            return;
        }
        if (host.Length == 0)
        {
            Error(d, $"no host in upstream \"{a[0]}\"");
            return;
        }
        var server = new UpstreamServerConfig { Address = port is null ? $"{a[0]}:80" : a[0] };
        for (int i = 1; i < a.Count; i++)
        {
            string arg = a[i];
            int eq = arg.IndexOf('=');
            string key = eq < 0 ? arg : arg.Substring(0, eq + 1);
            string value = eq < 0 ? string.Empty : arg.Substring(eq + 1);
            switch (key)
            {
                case "weight=" when ConfigValues.TryParseInt(value, out int w) && w > 0:
                    server = server with { Weight = w };
                    continue;
                case "max_fails=" when ConfigValues.TryParseInt(value, out int mf):
                    server = server with { MaxFails = mf };
                    continue;
                case "fail_timeout=" when ConfigValues.TryParseTime(value, out var ft, secondsOnly: true):
                    server = server with { FailTimeout = ft };
                    continue;
                case "max_conns=" when ConfigValues.TryParseInt(value, out int mc):
                    server = server with { MaxConns = mc };
                    continue;
                case "slow_start=" when ConfigValues.TryParseTime(value, out var ss, secondsOnly: true):
                    server = server with { SlowStart = ss };
                    continue;
                case "backup":
                    server = server with { Backup = true };
                    continue;
                case "down":
                    server = server with { Down = true };
                    continue;
                case "resolve":
                    Warn(d, "the \"resolve\" parameter of \"server\" is not acted on: the name is resolved once, at load");
                    continue;
            }
            InvalidParameter(d, arg);
            return;
        }
        u.Servers.Add((server, host, port ?? 80, d));
    }

    /// <summary>"health_check [interval=T] [fails=N] [passes=N] [uri=U] [timeout=T] [status=MIN-MAX]" (NGINX Plus style).</summary>
    private void HealthCheck(ConfDirective d, UpstreamDraft u)
    {
        var check = new HealthCheckConfig();
        foreach (var arg in d.Args)
        {
            int eq = arg.IndexOf('=');
            string key = eq < 0 ? arg : arg.Substring(0, eq + 1);
            string value = eq < 0 ? string.Empty : arg.Substring(eq + 1);
            switch (key)
            {
                case "interval=" when ConfigValues.TryParseTime(value, out var interval) && interval > TimeSpan.Zero:
                    check = check with { Interval = interval };
                    continue;
                case "timeout=" when ConfigValues.TryParseTime(value, out var timeout) && timeout > TimeSpan.Zero:
                    check = check with { Timeout = timeout };
                    continue;
                case "fails=" when ConfigValues.TryParseInt(value, out int fails) && fails > 0:
                    check = check with { Fails = fails };
                    continue;
                case "passes=" when ConfigValues.TryParseInt(value, out int passes) && passes > 0:
                    check = check with { Passes = passes };
                    continue;
                case "uri=" when value.StartsWith('/'):
                    check = check with { Uri = value };
                    continue;
                case "status=":
                {
                    int dash = value.IndexOf('-');
                    string lo = dash < 0 ? value : value.Substring(0, dash);
                    string hi = dash < 0 ? value : value.Substring(dash + 1);
                    if (ConfigValues.TryParseInt(lo, out int min) && ConfigValues.TryParseInt(hi, out int max)
                        && min is >= 100 and <= 599 && max >= min && max <= 599)
                    {
                        check = check with { MinStatus = min, MaxStatus = max };
                        continue;
                    }
                    break;
                }
            }
            InvalidParameter(d, arg);
            return;
        }
        u.HealthCheck = check;
    }

    /// <summary>
    /// ngx_http_map: "map source $variable { default v; hostnames; volatile; key value; ~regex value; ~*regex value; }".
    /// A key starting with "\" is taken literally without the backslash (to write keys such as "\default").
    /// </summary>
    private void Map(ConfDirective d)
    {
        var source = AddTemplate(d, d.Args[0]);
        string variable = d.Args[1];
        if (variable.Length < 2 || variable[0] != '$')
        {
            Error(d, $"invalid variable name \"{variable}\"");
            return;
        }
        variable = variable.Substring(1);
        if (ValueTemplate.Resolve(variable).Variable != VariableKind.Named)
        {
            Error(d, $"the duplicate \"{variable}\" variable");
            return;
        }
        int previous = _maps.FindIndex(m => m.Variable == variable);
        if (previous >= 0)
        {
            // nginx's map variables are changeable: a second map of the same variable replaces the first.
            Warn(d, $"the \"{variable}\" variable is defined by an earlier map too: this one replaces it");
            _maps.RemoveAt(previous);
        }
        ValueTemplate? defaultValue = null;
        bool hostnames = false;
        var entries = new List<MapEntry>();
        var seenKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in d.Block!)
        {
            if (entry.Args.Count == 0 && entry.Name is "hostnames" or "volatile")
            {
                hostnames |= entry.Name == "hostnames";
                continue;
            }
            if (entry.Block is not null || entry.Args.Count != 1)
            {
                Error(entry, "invalid number of the map parameters");
                continue;
            }
            var value = AddTemplate(entry, entry.Args[0]);
            if (value is null)
            {
                continue;
            }
            if (entry.Name == "default")
            {
                if (defaultValue is not null)
                {
                    Error(entry, "duplicate default map parameter");
                    continue;
                }
                defaultValue = value;
                continue;
            }
            string key = entry.Name;
            if (key.Length > 0 && key[0] == '~')
            {
                bool caseless = key.Length > 1 && key[1] == '*';
                if (CompileRegex(entry, key.Substring(caseless ? 2 : 1), caseless) is null)
                {
                    continue;
                }
            }
            else
            {
                if (key.Length > 0 && key[0] == '\\')
                {
                    key = key.Substring(1);
                }
                // Exact keys hash lower-cased in nginx (ngx_hash_add_key without NGX_HASH_READONLY_KEY).
                if (!seenKeys.Add(key.ToLowerInvariant()))
                {
                    Error(entry, $"conflicting parameter \"{entry.Name}\"");
                    continue;
                }
                if (hostnames && !MapHostnameKeyIsValid(key))
                {
                    Error(entry, $"invalid hostname or wildcard \"{entry.Name}\"");
                    continue;
                }
            }
            // Kept as written ("~..." regex, "\\..." escaped literal); MapTable reads them the same way.
            entries.Add(new MapEntry(entry.Name, value));
        }
        if (source is null)
        {
            return;
        }
        _definedVariables.Add(variable);
        _maps.Add(new MapConfig
        {
            Source = source,
            Variable = variable,
            Default = defaultValue ?? ValueTemplate.Empty,
            Entries = entries,
            Hostnames = hostnames,
        });
    }

    private static bool MapHostnameKeyIsValid(string key)
    {
        int star = key.IndexOf('*');
        if (star < 0)
        {
            return true;
        }
        return key.IndexOf('*', star + 1) < 0 && (key.StartsWith("*.", StringComparison.Ordinal) || key.EndsWith(".*", StringComparison.Ordinal));
    }
}
