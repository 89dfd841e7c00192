using System.Buffers;
using System.Net;
using System.Text;
using FastProxy.Config;
using FastProxy.Core.Tests.Forwarding;
using FastProxy.Diagnostics;
using FastProxy.LoadBalancing.Tests;

namespace FastProxy.Core.Tests.Diagnostics;

/// <summary>
/// log_format evaluation and escaping, against nginx 1.22's output for the same requests (recorded with the
/// Debian nginx: the expected strings below are what it wrote).
/// </summary>
public sealed class AccessLogFormatTests
{
    private readonly ManualTimeProvider _time = new();

    private static ForwardingFixture Request(string fields = "", string target = "/p/x?q=1") =>
        ForwardingFixture.Create($"GET {target} HTTP/1.1\r\nHost: www.example.com\r\n{fields}\r\n", l => l.ProxyPass("http://backend"));

    private string Format(string format, ForwardingFixture request, RequestLogState state, LogEscape escape = LogEscape.Default, long? end = null)
    {
        var compiled = AccessLogFormat.Compile("t", ValueTemplate.Parse(format), escape, request.Context.Snapshot.Maps);
        var line = new AccessLogWriter.LineBuffer();
        compiled.Format(line, request.Context, state, new LogTime(_time), end ?? _time.GetTimestamp());
        return Encoding.Latin1.GetString(line.Span);
    }

    private RequestLogState Started(int status = 200, long bytesSent = 150, long headerBytes = 147)
    {
        var state = new RequestLogState();
        state.Start(_time.GetTimestamp());
        state.HasHead = true;
        state.HasServer = true;
        state.Status = status;
        state.BytesSent = bytesSent;
        state.HeaderBytes = headerBytes;
        state.RequestLength = 80;
        return state;
    }

    [Fact]
    public void Format_Combined_NginxLayout()
    {
        var request = Request("User-Agent: curl/7.88.1\r\n");
        var line = Format(AccessLogRegistry.Combined.Source, request, Started(bytesSent: 150, headerBytes: 147));

        Assert.Equal("192.0.2.7 - - [01/Jan/2025:01:00:00 +0000] \"GET /p/x?q=1 HTTP/1.1\" 200 3 \"-\" \"curl/7.88.1\"",
            line.Replace(LocalOffset(), "+0000"));
    }

    private static string LocalOffset()
    {
        var offset = TimeZoneInfo.Local.GetUtcOffset(new DateTime(2025, 1, 1, 1, 0, 0, DateTimeKind.Utc));
        return (offset < TimeSpan.Zero ? "-" : "+") + offset.ToString("hhmm", System.Globalization.CultureInfo.InvariantCulture);
    }

    // The parser refuses control bytes in field values (RFC 9110 §5.5), so they reach the log only through a head
    // that failed; quote, backslash, tab and bytes above 0x7F come through fields.
    [Fact]
    public void Format_DefaultEscape_QuoteBackslashTabAndHighBytesAsHex()
    {
        var request = Request("X: a\"b\\c\td\u00c3\u00a9\r\n");

        Assert.Equal("\"a\\x22b\\x5Cc\\x09d\\xC3\\xA9\"", Format("\"$http_x\"", request, Started()));
    }

    [Fact]
    public void Format_JsonEscape_QuoteBackslashTabEscapedHighBytesAsIs()
    {
        var request = Request("X: a\"b\\c\td\u00c3\u00a9\r\n");

        Assert.Equal("\"a\\\"b\\\\c\\td\u00c3\u00a9\"", Format("\"$http_x\"", request, Started(), LogEscape.Json));
    }

    [Theory]
    [InlineData(LogEscape.Default, "GET /bad\\x01\\x7F\\x1B HTTP/1.1")]
    [InlineData(LogEscape.Json, "GET /bad\\u0001\u007f\\u001b HTTP/1.1")]
    public void Format_ControlBytesOfFailedHead_EscapedPerMode(LogEscape escape, string expected)
    {
        var state = new RequestLogState();
        state.Start(_time.GetTimestamp());
        state.CaptureRequestLine(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes("GET /bad\u0001\u007f\u001b HTTP/1.1\r\n")));

        Assert.Equal(expected, Format("$request", Request(), state, escape));
    }

    [Fact]
    public void Format_NoneEscape_ValuesAsSent()
    {
        var request = Request("X: a\"b\\c\r\n");

        Assert.Equal("\"a\"b\\c\"", Format("\"$http_x\"", request, Started(), LogEscape.None));
    }

    [Theory]
    [InlineData(LogEscape.Default, "\"-\" \"-\" \"-\" \"-\" \"-\"")]
    [InlineData(LogEscape.Json, "\"\" \"\" \"\" \"\" \"\"")]
    [InlineData(LogEscape.None, "\"\" \"\" \"\" \"\" \"\"")]
    public void Format_EmptyValues_DashOnlyInDefaultEscape(LogEscape escape, string expected)
    {
        var request = Request(target: "/a");

        Assert.Equal(expected, Format("\"$args\" \"$http_x\" \"$remote_user\" \"$upstream_addr\" \"$upstream_status\"", request, Started(), escape));
    }

    [Fact]
    public void Format_LogVariables_FromRequestState()
    {
        var request = Request();
        var state = Started(status: 201, bytesSent: 154, headerBytes: 152);
        state.RequestLength = 132;
        _time.Advance(TimeSpan.FromMilliseconds(1234));

        Assert.Equal("201 154 2 132 1.234 3 1",
            Format("$status $bytes_sent $body_bytes_sent $request_length $request_time $connection $connection_requests", request, state));
    }

    [Fact]
    public void Format_UpstreamAttempts_ListedCommaSeparated()
    {
        var request = Request();
        var state = Started();
        var attempts = request.Context.Upstream;
        attempts.Begin("127.0.0.1:28089"u8);
        state.BeginUpstream(_time.GetTimestamp());
        _time.Advance(TimeSpan.FromMilliseconds(2));
        attempts.End(502);
        state.EndUpstream(_time.GetTimestamp());
        attempts.Begin("[::1]:28081"u8);
        state.BeginUpstream(_time.GetTimestamp());
        _time.Advance(TimeSpan.FromMilliseconds(1));
        state.UpstreamConnected(_time.GetTimestamp());
        _time.Advance(TimeSpan.FromMilliseconds(10));
        attempts.End(200);
        state.UpstreamHeader(_time.GetTimestamp());
        _time.Advance(TimeSpan.FromMilliseconds(5));
        state.EndUpstream(_time.GetTimestamp());

        Assert.Equal("127.0.0.1:28089, [::1]:28081 | 502, 200 | 0.002, 0.016 | -, 0.001 | -, 0.011",
            Format("$upstream_addr | $upstream_status | $upstream_response_time | $upstream_connect_time | $upstream_header_time", request, state));
    }

    [Fact]
    public void Format_PooledConnection_ConnectTimeZero()
    {
        var request = Request();
        var state = Started();
        state.BeginUpstream(_time.GetTimestamp());
        _time.Advance(TimeSpan.FromMilliseconds(3));
        state.UpstreamHeader(_time.GetTimestamp());
        state.EndUpstream(_time.GetTimestamp());

        Assert.Equal("0.000 0.003", Format("$upstream_connect_time $upstream_header_time", request, state));
    }

    [Fact]
    public void Format_RemoteUser_FromBasicAuthorization()
    {
        var request = Request("Authorization: Basic " + Convert.ToBase64String(Encoding.ASCII.GetBytes("bob:secret")) + "\r\n");

        Assert.Equal("bob", Format("$remote_user", request, Started()));
    }

    [Fact]
    public void Format_HeadThatFailed_RawLineAndConnectionVariablesOnly()
    {
        var request = Request();
        var state = new RequestLogState();
        state.Start(_time.GetTimestamp());
        state.CaptureRequestLine(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes("GET /bad\u0001 HTTP/1.1\r\nHost: x\r\n\r\n")));
        state.Status = 400;

        Assert.Equal("192.0.2.7 \"GET /bad\\x01 HTTP/1.1\" 400 - -",
            Format("$remote_addr \"$request\" $status $host $http_host", request, state));
    }

    [Fact]
    public void Format_LineLongerThanBuffer_CutWithRoomForNewline()
    {
        var request = Request("X: " + new string('a', 6000) + "\r\n");
        var compiled = AccessLogFormat.Compile("t", ValueTemplate.Parse("$http_x$http_x"), LogEscape.Default, request.Context.Snapshot.Maps);
        var line = new AccessLogWriter.LineBuffer();

        compiled.Format(line, request.Context, Started(), new LogTime(_time), _time.GetTimestamp());

        Assert.Equal(AccessLogWriter.MaxLineLength - 1, line.Length);
    }

    [Fact]
    public void Format_Msec_SecondsDotMilliseconds()
    {
        _time.Advance(TimeSpan.FromMilliseconds(7));

        Assert.Equal($"{new DateTimeOffset(2025, 1, 1, 1, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds()}.007", Format("$msec", Request(), Started()));
    }

    /// <summary>
    /// The request path's share of logging (format a line into a rented buffer, commit it) allocates nothing once the
    /// writer's line buffers exist; the file is written by the writer's own thread.
    /// </summary>
    [Fact]
    public async Task FormatAndCommit_SteadyState_AllocatesNothing()
    {
        string dir = Directory.CreateTempSubdirectory("fp-alloc-").FullName;
        try
        {
            await using var writer = new AccessLogWriter(Path.Combine(dir, "a.log"), lineBufferCount: 32);
            var request = Request("User-Agent: curl/7.88.1\r\nReferer: http://r/\r\nAuthorization: Basic Ym9iOng=\r\n");
            var format = AccessLogFormat.Compile("t", ValueTemplate.Parse(AccessLogRegistry.Combined.Source +
                " $request_time $upstream_addr $upstream_status $upstream_response_time $msec $time_iso8601 $host $args"),
                LogEscape.Default, request.Context.Snapshot.Maps);
            var time = new LogTime(TimeProvider.System);
            var state = Started();
            request.Context.Upstream.Begin("127.0.0.1:8080"u8);
            request.Context.Upstream.End(200);
            state.BeginUpstream(time.Timestamp());
            state.UpstreamHeader(time.Timestamp());
            state.EndUpstream(time.Timestamp());
            void LogOne()
            {
                var line = writer.RentLine()!;
                format.Format(line, request.Context, state, time, time.Timestamp());
                writer.Commit(line);
            }
            // Every line buffer made (all 32 held at once: a writer thread that keeps up would otherwise leave some to
            // be made later, inside the measured loop, when the CPU is busy), the time strings of this second formatted.
            var held = new List<AccessLogWriter.LineBuffer>();
            for (int i = 0; i < 32; i++)
            {
                var line = writer.RentLine()!;
                format.Format(line, request.Context, state, time, time.Timestamp());
                held.Add(line);
            }
            foreach (var line in held)
            {
                writer.Commit(line);
            }
            for (int i = 0; i < 1000; i++)
            {
                LogOne();
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10_000; i++)
            {
                LogOne();
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            // A second boundary during the loop formats the time strings once (about 150 bytes); a writer thread starved
            // of CPU lets the queue of committed lines outgrow its first segment once (a few KiB). Anything per line
            // would be at least 10,000 × 24 bytes.
            Assert.True(allocated < 16 * 1024, $"{allocated} bytes for 10 000 lines");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(0, "27/Nov/2026:11:41:12 +0000", "2026-11-27T11:41:12+00:00")]
    [InlineData(-420, "27/Nov/2026:04:41:12 -0700", "2026-11-27T04:41:12-07:00")]
    [InlineData(330, "27/Nov/2026:17:11:12 +0530", "2026-11-27T17:11:12+05:30")]
    public void LogTime_Format_NginxTimeLocalAndIso8601(int offsetMinutes, string local, string iso)
    {
        var formatted = LogTime.Format(new DateTimeOffset(2026, 11, 27, 11, 41, 12, TimeSpan.Zero), TimeSpan.FromMinutes(offsetMinutes));

        Assert.Equal(local, Encoding.ASCII.GetString(formatted.Local));
        Assert.Equal(iso, Encoding.ASCII.GetString(formatted.Iso8601));
    }
}
