namespace FastProxy.Config;

/// <summary>Where a directive may appear (nginx's NGX_MAIN_CONF, NGX_EVENT_CONF, NGX_HTTP_*_CONF).</summary>
[Flags]
internal enum ConfContext
{
    None = 0,
    Main = 1,
    Events = 2,
    Http = 4,
    Server = 8,
    Location = 16,
    Upstream = 32,

    /// <summary>http, server and location: where most per-request settings live.</summary>
    HttpServerLocation = Http | Server | Location,
    HttpServer = Http | Server,
    ServerLocation = Server | Location,
}

internal enum DirectiveSupport
{
    /// <summary>FastProxy does what nginx does with it.</summary>
    Acted,

    /// <summary>Accepted and checked for shape, then reported as "parsed but not acted on".</summary>
    Warned,

    /// <summary>Refused: ignoring it would change what the operator meant (access control, other protocols).</summary>
    Unsupported,
}

/// <summary>One directive's shape: contexts, argument count (without the name), block or not, repeatable or not.</summary>
internal sealed record DirectiveSpec(
    string Name, ConfContext Contexts, int MinArgs, int MaxArgs, bool Block, bool Multi, DirectiveSupport Support, string? Note = null);

/// <summary>Every directive FastProxy knows, with nginx's contexts and argument counts.</summary>
internal static class DirectiveTable
{
    private const int Many = int.MaxValue;
    private const ConfContext M = ConfContext.Main;
    private const ConfContext E = ConfContext.Events;
    private const ConfContext H = ConfContext.Http;
    private const ConfContext S = ConfContext.Server;
    private const ConfContext L = ConfContext.Location;
    private const ConfContext U = ConfContext.Upstream;
    private const ConfContext HSL = ConfContext.HttpServerLocation;
    private const ConfContext HS = ConfContext.HttpServer;
    private const ConfContext SL = ConfContext.ServerLocation;

    private static readonly Dictionary<string, DirectiveSpec> Specs = Build();

    /// <summary>The <c>server</c> directive inside <c>upstream</c> (a different directive from the http <c>server</c> block).</summary>
    public static readonly DirectiveSpec UpstreamServer = new("server", U, 1, Many, false, true, DirectiveSupport.Acted);

    public static DirectiveSpec? Find(string name, ConfContext context)
    {
        if (name == "server" && context == ConfContext.Upstream)
        {
            return UpstreamServer;
        }
        return Specs.GetValueOrDefault(name);
    }

    public static IEnumerable<DirectiveSpec> All => Specs.Values.Append(UpstreamServer);

    private static Dictionary<string, DirectiveSpec> Build()
    {
        var d = new Dictionary<string, DirectiveSpec>(StringComparer.Ordinal);

        void Acted(string name, ConfContext ctx, int min, int max, bool multi = false, bool block = false) =>
            d.Add(name, new DirectiveSpec(name, ctx, min, max, block, multi, DirectiveSupport.Acted));

        void Warned(string name, ConfContext ctx, int min, int max, bool block = false) =>
            d.Add(name, new DirectiveSpec(name, ctx, min, max, block, true, DirectiveSupport.Warned));

        void Unsupported(string name, ConfContext ctx, int min, int max, string note, bool block = false) =>
            d.Add(name, new DirectiveSpec(name, ctx, min, max, block, true, DirectiveSupport.Unsupported, note));

        // Main and events contexts.
        Acted("events", M, 0, 0, block: true);
        Acted("http", M, 0, 0, block: true);
        Acted("worker_connections", E, 1, 1);
        Acted("pid", M, 1, 1);
        Acted("error_log", M | HSL, 1, 2, multi: true);
        Acted("worker_shutdown_timeout", M, 1, 1);
        Warned("worker_processes", M, 1, 1);
        Warned("worker_rlimit_nofile", M, 1, 1);
        Warned("worker_rlimit_core", M, 1, 1);
        Warned("worker_cpu_affinity", M, 1, Many);
        Warned("worker_priority", M, 1, 1);
        Warned("working_directory", M, 1, 1);
        Warned("user", M, 1, 2);
        Warned("daemon", M, 1, 1);
        Warned("master_process", M, 1, 1);
        Warned("load_module", M, 1, 1);
        Warned("env", M, 1, 1);
        Warned("pcre_jit", M, 1, 1);
        Warned("thread_pool", M, 2, 3);
        Warned("timer_resolution", M, 1, 1);
        Warned("lock_file", M, 1, 1);
        Warned("ssl_engine", M, 1, 1);
        Warned("use", E, 1, 1);
        Warned("multi_accept", E, 1, 1);
        Warned("accept_mutex", E, 1, 1);
        Warned("accept_mutex_delay", E, 1, 1);
        Warned("worker_aio_requests", E, 1, 1);
        Warned("debug_connection", E, 1, 1);
        Unsupported("stream", M, 0, 0, "FastProxy proxies HTTP only", block: true);
        Unsupported("mail", M, 0, 0, "FastProxy proxies HTTP only", block: true);

        // http blocks.
        Acted("server", H, 0, 0, multi: true, block: true);
        Acted("location", SL, 1, 2, multi: true, block: true);
        Acted("upstream", H, 1, 1, multi: true, block: true);
        Acted("map", H, 2, 2, multi: true, block: true);
        Warned("types", HSL, 0, 0, block: true);

        // Virtual servers.
        Acted("listen", S, 1, Many, multi: true);
        Acted("server_name", S, 1, Many, multi: true);

        // Rewrite module.
        Acted("return", SL, 1, 2, multi: true);
        Acted("rewrite", SL, 2, 3, multi: true);
        Warned("set", SL, 2, 2);
        Warned("rewrite_log", HSL, 1, 1);
        Warned("uninitialized_variable_warn", HSL, 1, 1);
        Acted("break", SL, 0, 0, multi: true);
        Unsupported("if", SL, 1, Many, "\"if\" conditions are not evaluated; ignoring the block would change what it guards", block: true);

        // Proxy module.
        Acted("proxy_pass", L, 1, 1);
        Acted("proxy_set_header", HSL, 2, 2, multi: true);
        Acted("proxy_hide_header", HSL, 1, 1, multi: true);
        Acted("proxy_pass_header", HSL, 1, 1, multi: true);
        Acted("add_header", HSL, 2, 3, multi: true);
        Acted("proxy_redirect", HSL, 1, 2, multi: true);
        Acted("proxy_http_version", HSL, 1, 1);
        Acted("proxy_connect_timeout", HSL, 1, 1);
        Acted("proxy_read_timeout", HSL, 1, 1);
        Acted("proxy_send_timeout", HSL, 1, 1);
        Acted("proxy_next_upstream", HSL, 1, Many);
        Acted("proxy_next_upstream_tries", HSL, 1, 1);
        Acted("proxy_next_upstream_timeout", HSL, 1, 1);
        Acted("proxy_buffering", HSL, 1, 1);
        Acted("proxy_ssl_server_name", HSL, 1, 1);
        Acted("proxy_ssl_name", HSL, 1, 1);
        Acted("proxy_ssl_verify", HSL, 1, 1);
        Acted("proxy_ssl_trusted_certificate", HSL, 1, 1);
        Acted("proxy_ssl_verify_depth", HSL, 1, 1);
        Acted("proxy_ssl_certificate", HSL, 1, 1);
        Acted("proxy_ssl_certificate_key", HSL, 1, 1);
        Acted("proxy_ssl_protocols", HSL, 1, Many);
        Acted("proxy_ssl_session_reuse", HSL, 1, 1);
        Acted("proxy_ssl_password_file", HSL, 1, 1);
        foreach (var name in new[] { "proxy_ssl_ciphers", "proxy_ssl_crl", "proxy_ssl_conf_command" })
        {
            Warned(name, HSL, 1, 2);
        }
        Warned("proxy_cache_path", H, 2, Many);
        Warned("proxy_cache", HSL, 1, 1);
        Warned("proxy_cache_key", HSL, 1, 1);
        Warned("proxy_cache_valid", HSL, 1, Many);
        foreach (var name in new[]
        {
            "proxy_cache_bypass", "proxy_no_cache", "proxy_cache_lock", "proxy_cache_lock_age", "proxy_cache_lock_timeout",
            "proxy_cache_methods", "proxy_cache_min_uses", "proxy_cache_use_stale", "proxy_cache_revalidate",
            "proxy_cache_background_update", "proxy_cache_convert_head", "proxy_cache_max_range_offset",
            "proxy_buffer_size", "proxy_buffers", "proxy_busy_buffers_size", "proxy_max_temp_file_size",
            "proxy_temp_file_write_size", "proxy_request_buffering", "proxy_intercept_errors", "proxy_ignore_client_abort",
            "proxy_ignore_headers", "proxy_cookie_domain", "proxy_cookie_path", "proxy_cookie_flags", "proxy_set_body",
            "proxy_pass_request_body", "proxy_pass_request_headers", "proxy_socket_keepalive", "proxy_bind", "proxy_method",
            "proxy_store", "proxy_store_access", "proxy_limit_rate", "proxy_headers_hash_max_size",
            "proxy_headers_hash_bucket_size", "proxy_force_ranges", "proxy_pass_trailers",
        })
        {
            Warned(name, HSL, 1, Many);
        }

        // Client-side limits and timeouts.
        Acted("client_max_body_size", HSL, 1, 1);
        Acted("client_body_timeout", HSL, 1, 1);
        Acted("client_header_timeout", HS, 1, 1);
        Acted("keepalive_timeout", HSL | U, 1, 2);
        Acted("keepalive_requests", HSL | U, 1, 1);
        Acted("large_client_header_buffers", HS, 2, 2);
        Acted("merge_slashes", HS, 1, 1);

        // Limits.
        Acted("limit_req_zone", H, 3, 4, multi: true);
        Acted("limit_req", HSL, 1, 3, multi: true);
        Acted("limit_req_status", HSL, 1, 1);
        Acted("limit_req_dry_run", HSL, 1, 1);
        Acted("limit_req_log_level", HSL, 1, 1);
        Acted("limit_conn_zone", H, 2, 2, multi: true);
        Acted("limit_conn", HSL, 2, 2, multi: true);
        Acted("limit_conn_status", HSL, 1, 1);
        Acted("limit_conn_dry_run", HSL, 1, 1);
        Acted("limit_conn_log_level", HSL, 1, 1);

        // Real IP.
        Acted("set_real_ip_from", HSL, 1, 1, multi: true);
        Acted("real_ip_header", HSL, 1, 1);
        Acted("real_ip_recursive", HSL, 1, 1);

        // TLS termination.
        Acted("ssl_certificate", HS, 1, 1, multi: true);
        Acted("ssl_certificate_key", HS, 1, 1, multi: true);
        Acted("ssl_protocols", HS, 1, Many);
        Acted("ssl_ciphers", HS, 1, 1);
        Acted("ssl_prefer_server_ciphers", HS, 1, 1);
        Acted("ssl_session_cache", HS, 1, 2);
        Acted("ssl_session_tickets", HS, 1, 1);
        Acted("ssl_session_timeout", HS, 1, 1);
        Acted("ssl_password_file", HS, 1, 1);
        Acted("ssl_handshake_timeout", HS, 1, 1);
        foreach (var name in new[]
        {
            "ssl_dhparam", "ssl_ecdh_curve", "ssl_stapling", "ssl_stapling_verify", "ssl_stapling_file",
            "ssl_stapling_responder", "ssl_trusted_certificate", "ssl_buffer_size", "ssl_early_data",
            "ssl_client_certificate", "ssl_verify_client", "ssl_verify_depth", "ssl_conf_command", "ssl_reject_handshake",
            "ssl_session_ticket_key", "ssl_crl", "ssl_ocsp", "ssl_ocsp_cache", "ssl_ocsp_responder",
        })
        {
            Warned(name, HS, 1, 2);
        }
        Unsupported("ssl", HS, 1, 1, "use the \"ssl\" parameter of \"listen\"");

        // Logging.
        Acted("access_log", HSL, 1, Many, multi: true);
        Acted("log_format", H, 2, Many, multi: true);
        Warned("open_log_file_cache", HSL, 1, 4);
        Warned("log_not_found", HSL, 1, 1);
        Warned("log_subrequest", HSL, 1, 1);

        // Upstream blocks.
        Acted("least_conn", U, 0, 0);
        Acted("ip_hash", U, 0, 0);
        Acted("hash", U, 1, 2);
        Acted("random", U, 0, 2);
        Acted("keepalive", U, 1, 1);
        Acted("health_check", U, 0, Many);
        Warned("zone", U, 1, 2);
        Warned("ntlm", U, 0, 0);
        Warned("resolver", HSL | U, 1, Many);
        Warned("resolver_timeout", HSL | U, 1, 1);

        // Housekeeping of a typical nginx.conf: accepted, reported as not acted on.
        foreach (var name in new[]
        {
            "sendfile", "sendfile_max_chunk", "tcp_nopush", "tcp_nodelay", "types_hash_max_size", "types_hash_bucket_size",
            "server_tokens", "server_name_in_redirect", "port_in_redirect", "absolute_redirect", "default_type", "gzip",
            "gzip_vary", "gzip_proxied", "gzip_comp_level", "gzip_buffers", "gzip_http_version", "gzip_types",
            "gzip_min_length", "gzip_disable", "gzip_static", "gunzip", "charset", "source_charset", "charset_types",
            "override_charset", "root", "index", "autoindex", "autoindex_exact_size", "autoindex_format",
            "autoindex_localtime", "client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path",
            "scgi_temp_path", "client_body_buffer_size", "client_body_in_file_only", "client_body_in_single_buffer",
            "open_file_cache", "open_file_cache_errors", "open_file_cache_min_uses", "open_file_cache_valid",
            "reset_timedout_connection", "send_timeout", "send_lowat", "postpone_output", "output_buffers",
            "error_page", "recursive_error_pages", "expires", "etag", "if_modified_since", "lingering_close",
            "lingering_time", "lingering_timeout", "keepalive_disable", "chunked_transfer_encoding", "msie_padding",
            "msie_refresh", "disable_symlinks", "directio", "directio_alignment", "aio", "aio_write", "read_ahead",
            "limit_rate", "limit_rate_after", "subrequest_output_buffer_size", "max_ranges", "fastcgi_param",
            "fastcgi_index", "fastcgi_split_path_info", "fastcgi_read_timeout", "fastcgi_buffers", "fastcgi_buffer_size",
            "fastcgi_intercept_errors", "uwsgi_param", "scgi_param", "ssi", "sub_filter", "sub_filter_once",
            "sub_filter_types", "add_trailer", "http2_max_concurrent_streams", "http2_recv_buffer_size",
            "http2_chunk_size", "http2_body_preread_size", "http2_idle_timeout", "http2_max_requests",
            "http2_push", "http2_push_preload", "variables_hash_max_size", "variables_hash_bucket_size",
            "map_hash_max_size", "map_hash_bucket_size", "try_files", "alias", "satisfy", "keepalive_time",
            "sendfile_max_chunk", "underscores_in_headers", "ignore_invalid_headers", "client_header_buffer_size",
            "server_names_hash_max_size", "server_names_hash_bucket_size", "connection_pool_size", "request_pool_size",
            "http2", "http3", "quic_retry", "auth_delay",
        })
        {
            d.TryAdd(name, new DirectiveSpec(name, HSL, 1, Many, false, true, DirectiveSupport.Warned));
        }
        d["try_files"] = d["try_files"] with { MinArgs = 2 };
        d["alias"] = d["alias"] with { Contexts = L };
        d["keepalive_time"] = d["keepalive_time"] with { Contexts = HSL | U };
        d["client_header_buffer_size"] = d["client_header_buffer_size"] with { Contexts = HS };
        d["server_names_hash_max_size"] = d["server_names_hash_max_size"] with { Contexts = H };
        d["server_names_hash_bucket_size"] = d["server_names_hash_bucket_size"] with { Contexts = H };
        d["variables_hash_max_size"] = d["variables_hash_max_size"] with { Contexts = H };
        d["variables_hash_bucket_size"] = d["variables_hash_bucket_size"] with { Contexts = H };
        d["map_hash_max_size"] = d["map_hash_max_size"] with { Contexts = H };
        d["map_hash_bucket_size"] = d["map_hash_bucket_size"] with { Contexts = H };
        Warned("internal", L, 0, 0);
        d["internal"] = d["internal"] with { Support = DirectiveSupport.Unsupported, Note = "internal-only locations are not enforced; ignoring it would expose the location" };

        // Refused: ignoring these would expose what they protect or serve nothing where the operator expects an answer.
        const string Access = "access control is not enforced by FastProxy; ignoring it would expose what it protects";
        Acted("allow", HSL, 1, 1, multi: true);
        Acted("deny", HSL, 1, 1, multi: true);
        Unsupported("auth_basic", HSL, 1, 1, Access);
        Unsupported("auth_basic_user_file", HSL, 1, 1, Access);
        Unsupported("auth_request", HSL, 1, 1, Access);
        Unsupported("limit_except", L, 1, Many, Access, block: true);
        const string Pass = "FastProxy proxies HTTP only (proxy_pass)";
        foreach (var name in new[] { "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass" })
        {
            Unsupported(name, L, 1, 1, Pass);
        }
        return d;
    }
}
