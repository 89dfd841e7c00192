using System.Buffers;
using System.Buffers.Text;
using FastProxy.Config;
using FastProxy.Forwarding;
using FastProxy.Http;
using FastProxy.Runtime;

namespace FastProxy.Diagnostics;

/// <summary>
/// A <c>log_format</c> compiled for one snapshot: literal bytes and variables, formatted straight into an access-log
/// line buffer. Request variables ($host, $http_*, $request, maps...) are evaluated by <see cref="VariableEvaluator"/>;
/// the ones only the log knows ($status, $body_bytes_sent, $request_time, $upstream_*, $time_local...) here, from the
/// request's <see cref="RequestLogState"/>. Variable values are escaped as ngx_http_log_module escapes them; literals
/// are written as they are. Nothing allocates: values go through a stack buffer (a pooled one when longer).
/// </summary>
internal sealed class AccessLogFormat
{
    private readonly CompiledTemplate _template;

    private AccessLogFormat(string name, CompiledTemplate template, LogEscape escape)
    {
        Name = name;
        _template = template;
        Escape = escape;
    }

    public string Name { get; }

    public LogEscape Escape { get; }

    public static AccessLogFormat Compile(string name, ValueTemplate template, LogEscape escape, IReadOnlyDictionary<string, MapRuntime> maps) =>
        new(name, CompiledTemplate.Compile(template, maps), escape);

    /// <summary>Formats the line of the request that just ended (a newline is added by the writer).</summary>
    public void Format(AccessLogWriter.LineBuffer line, RequestContext context, RequestLogState state, LogTime time, long endTimestamp)
    {
        var writer = new LineWriter(line.Free, Escape);
        LogTime.Formatted? now = null;
        foreach (ref readonly var part in _template.Parts.AsSpan())
        {
            if (part.Literal is { } literal)
            {
                writer.Append(literal);
                continue;
            }
            switch (part.Kind)
            {
                case VariableKind.Status:
                    // nginx prints the status with three digits, "000" when none was sent.
                    writer.AppendNumber(state.Status, minDigits: 3);
                    break;
                case VariableKind.BytesSent:
                    writer.AppendNumber(state.BytesSent);
                    break;
                case VariableKind.BodyBytesSent:
                    writer.AppendNumber(Math.Max(0, state.BytesSent - state.HeaderBytes));
                    break;
                case VariableKind.RequestLength:
                    writer.AppendNumber(state.RequestLength);
                    break;
                case VariableKind.RequestTime:
                    writer.AppendMilliseconds(Math.Max(0, time.ElapsedMilliseconds(state.StartTimestamp, endTimestamp)));
                    break;
                case VariableKind.TimeLocal:
                    writer.Append((now ??= time.Now()).Local);
                    break;
                case VariableKind.TimeIso8601:
                    writer.Append((now ??= time.Now()).Iso8601);
                    break;
                case VariableKind.Msec:
                {
                    long ms = time.UnixMilliseconds();
                    writer.AppendNumber(ms / 1000);
                    writer.AppendByte((byte)'.');
                    writer.AppendNumber(ms % 1000, minDigits: 3);
                    break;
                }
                case VariableKind.UpstreamResponseTime:
                case VariableKind.UpstreamConnectTime:
                case VariableKind.UpstreamHeaderTime:
                    AppendUpstream(ref writer, part.Kind, state, time);
                    break;
                case VariableKind.RemoteUser:
                    AppendRemoteUser(ref writer, context, state);
                    break;
                case VariableKind.Request when !state.HasHead:
                    writer.AppendValue(state.RawRequestLine);
                    break;
                default:
                    AppendRequestVariable(ref writer, in part, context, state);
                    break;
            }
        }
        line.Length += writer.Position;
    }

    /// <summary>The variables that need no request head (a line for a head that failed still has them).</summary>
    private static bool IsConnectionVariable(VariableKind kind) => kind is VariableKind.RemoteAddr or VariableKind.RemotePort
        or VariableKind.ServerAddr or VariableKind.ServerPort or VariableKind.ConnectionSerial or VariableKind.ConnectionRequests
        or VariableKind.Scheme or VariableKind.Hostname or VariableKind.Pid or VariableKind.BinaryRemoteAddr;

    private static void AppendRequestVariable(ref LineWriter writer, in CompiledPart part, RequestContext context, RequestLogState state)
    {
        if (!state.HasHead && !IsConnectionVariable(part.Kind))
        {
            writer.AppendValue(default);
            return;
        }
        int length = VariableEvaluator.MeasurePart(in part, context);
        if (length <= 512)
        {
            Span<byte> scratch = stackalloc byte[512];
            int n = VariableEvaluator.WritePart(in part, context, scratch);
            writer.AppendValue(scratch[..n]);
            return;
        }
        var rented = ArrayPool<byte>.Shared.Rent(length);
        int written = VariableEvaluator.WritePart(in part, context, rented);
        writer.AppendValue(rented.AsSpan(0, written));
        ArrayPool<byte>.Shared.Return(rented);
    }

    /// <summary>
    /// <c>$remote_user</c>: the user name of an <c>Authorization: Basic</c> field (RFC 7617), as nginx's variable gives
    /// it whether or not anything checked the password; "-" without one.
    /// </summary>
    private static void AppendRemoteUser(ref LineWriter writer, RequestContext context, RequestLogState state)
    {
        if (!state.HasHead)
        {
            writer.AppendValue(default);
            return;
        }
        int i = context.FindField("authorization"u8);
        var value = i < 0 ? default : context.GetValue(context.Head.Fields[i]);
        if (value.Length < 7 || !System.Text.Ascii.EqualsIgnoreCase(value[..6], "basic "u8))
        {
            writer.AppendValue(default);
            return;
        }
        var encoded = value[6..].Trim((byte)' ');
        Span<byte> decoded = stackalloc byte[256];
        if (encoded.Length > 340 || Base64.DecodeFromUtf8(encoded, decoded, out _, out int n) != OperationStatus.Done)
        {
            writer.AppendValue(default);
            return;
        }
        int colon = decoded[..n].IndexOf((byte)':');
        writer.AppendValue(colon < 0 ? default : decoded[..colon]);
    }

    /// <summary>
    /// The $upstream_*_time lists: one entry per attempt, ", " between them (nginx). ($upstream_addr and
    /// $upstream_status are the request's <see cref="Http.UpstreamAttempts"/>, evaluated as any variable.)
    /// </summary>
    private static void AppendUpstream(ref LineWriter writer, VariableKind kind, RequestLogState state, LogTime time)
    {
        int count = state.ListedAttempts;
        if (count == 0)
        {
            writer.AppendValue(default);
            return;
        }
        for (int i = 0; i < count; i++)
        {
            if (i > 0)
            {
                writer.Append(", "u8);
            }
            switch (kind)
            {
                case VariableKind.UpstreamResponseTime:
                    AppendTime(ref writer, time, state.AttemptStart(i), state.AttemptEnd(i));
                    break;
                case VariableKind.UpstreamConnectTime:
                    // A connection from the pool was connected before: nginx reports 0.
                    long connect = state.AttemptConnect(i);
                    AppendTime(ref writer, time, state.AttemptStart(i), connect < 0 && state.AttemptHeader(i) >= 0 ? state.AttemptStart(i) : connect);
                    break;
                default:
                    AppendTime(ref writer, time, state.AttemptStart(i), state.AttemptHeader(i));
                    break;
            }
        }
    }

    private static void AppendTime(ref LineWriter writer, LogTime time, long from, long to)
    {
        if (to < 0)
        {
            writer.AppendByte((byte)'-');
            return;
        }
        writer.AppendMilliseconds(Math.Max(0, time.ElapsedMilliseconds(from, to)));
    }

    /// <summary>Writes into a line's free space, cutting what does not fit (one byte is kept for the newline).</summary>
    private ref struct LineWriter(Span<byte> destination, LogEscape escape)
    {
        private readonly Span<byte> _destination = destination.Length > 0 ? destination[..^1] : default;
        private readonly LogEscape _escape = escape;

        public int Position { get; private set; }

        public void Append(scoped ReadOnlySpan<byte> bytes)
        {
            int n = Math.Min(bytes.Length, _destination.Length - Position);
            bytes[..n].CopyTo(_destination[Position..]);
            Position += n;
        }

        public void AppendByte(byte b)
        {
            if (Position < _destination.Length)
            {
                _destination[Position++] = b;
            }
        }

        public void AppendNumber(long value, int minDigits = 1)
        {
            Span<byte> scratch = stackalloc byte[24];
            Utf8Formatter.TryFormat(value, scratch, out int n, new StandardFormat('D', (byte)minDigits));
            Append(scratch[..n]);
        }

        /// <summary>Seconds with millisecond resolution, "0.003" (nginx's $request_time).</summary>
        public void AppendMilliseconds(long ms)
        {
            AppendNumber(ms / 1000);
            AppendByte((byte)'.');
            AppendNumber(ms % 1000, minDigits: 3);
        }

        /// <summary>A variable's value, escaped per the format; an empty value is "-" in the default escaping (nginx).</summary>
        public void AppendValue(scoped ReadOnlySpan<byte> value)
        {
            if (value.IsEmpty)
            {
                if (_escape == LogEscape.Default)
                {
                    AppendByte((byte)'-');
                }
                return;
            }
            switch (_escape)
            {
                case LogEscape.None:
                    Append(value);
                    break;
                case LogEscape.Json:
                    AppendJson(value);
                    break;
                default:
                    AppendDefault(value);
                    break;
            }
        }

        // ngx_http_log_escape: '"', '\\', bytes below 0x20 and from 0x7F become \xXX.
        private void AppendDefault(scoped ReadOnlySpan<byte> value)
        {
            while (!value.IsEmpty)
            {
                int plain = value.IndexOfAnyExcept(s_plainDefault);
                if (plain < 0)
                {
                    Append(value);
                    return;
                }
                Append(value[..plain]);
                byte b = value[plain];
                if (_destination.Length - Position < 4)
                {
                    Position = _destination.Length;
                    return;
                }
                _destination[Position++] = (byte)'\\';
                _destination[Position++] = (byte)'x';
                _destination[Position++] = (byte)"0123456789ABCDEF"[b >> 4];
                _destination[Position++] = (byte)"0123456789ABCDEF"[b & 0xF];
                value = value[(plain + 1)..];
            }
        }

        // ngx_escape_json: '"' and '\\' with a backslash, \n \r \t \b \f by name, other bytes below 0x20 as \u00XX;
        // bytes from 0x7F go as they are.
        private void AppendJson(scoped ReadOnlySpan<byte> value)
        {
            while (!value.IsEmpty)
            {
                int plain = value.IndexOfAnyExcept(s_plainJson);
                if (plain < 0)
                {
                    Append(value);
                    return;
                }
                Append(value[..plain]);
                byte b = value[plain];
                ReadOnlySpan<byte> named = b switch
                {
                    (byte)'"' => "\\\""u8,
                    (byte)'\\' => "\\\\"u8,
                    (byte)'\n' => "\\n"u8,
                    (byte)'\r' => "\\r"u8,
                    (byte)'\t' => "\\t"u8,
                    (byte)'\b' => "\\b"u8,
                    (byte)'\f' => "\\f"u8,
                    _ => default,
                };
                if (!named.IsEmpty)
                {
                    if (_destination.Length - Position < named.Length)
                    {
                        Position = _destination.Length;
                        return;
                    }
                    Append(named);
                }
                else
                {
                    if (_destination.Length - Position < 6)
                    {
                        Position = _destination.Length;
                        return;
                    }
                    Append("\\u00"u8);
                    _destination[Position++] = (byte)"0123456789abcdef"[b >> 4];
                    _destination[Position++] = (byte)"0123456789abcdef"[b & 0xF];
                }
                value = value[(plain + 1)..];
            }
        }
    }

    private static readonly SearchValues<byte> s_plainDefault = SearchValues.Create(PlainBytes(json: false));
    private static readonly SearchValues<byte> s_plainJson = SearchValues.Create(PlainBytes(json: true));

    private static byte[] PlainBytes(bool json)
    {
        var list = new List<byte>();
        for (int b = 0x20; b < 0x100; b++)
        {
            if (b == '"' || b == '\\' || (!json && b >= 0x7F))
            {
                continue;
            }
            list.Add((byte)b);
        }
        return [.. list];
    }
}
