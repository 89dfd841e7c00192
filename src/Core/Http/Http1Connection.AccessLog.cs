using System.Buffers;
using FastProxy.Diagnostics;
using FastProxy.Runtime;

namespace FastProxy.Http;

/// <summary>
/// The access log's view of a connection: every request that started (a byte of its head came) is logged exactly
/// once when it ends, whatever ended it: a complete response, FastProxy's own answer (4xx, 429, 502, return), a head
/// that could not be parsed, the client going away, or an upgraded tunnel closing. The line is formatted here, on
/// the connection's thread, into a buffer rented from the file's writer, and written to the file by the writer's
/// own thread (<see cref="AccessLogWriter"/>).
/// </summary>
internal sealed partial class Http1Connection
{
    private readonly RequestLogState _log = new();

    /// <summary>Bytes written to the client and not yet flushed (a pipe always knows).</summary>
    private long ClientUnflushed => _output.CanGetUnflushedBytes ? _output.UnflushedBytes : 0;

    /// <summary>The first byte of a request's head came: its clock starts (nginx's request start time).</summary>
    private void StartRequestLog() => _log.Start(_services.AccessLogs.Time.Timestamp());

    /// <summary>Counts what a flush hands to the client: <c>$bytes_sent</c>.</summary>
    private void CountFlushed() => _log.BytesSent += ClientUnflushed;

    /// <summary>A response head was written (from <paramref name="before"/> unflushed bytes on, with a body of <paramref name="bodyLength"/> written along).</summary>
    private void CountResponseHead(int status, long before, long bodyLength)
    {
        _log.Status = status;
        _log.HeaderBytes += ClientUnflushed - before - bodyLength;
    }

    private long Timestamp() => _services.AccessLogs.Time.Timestamp();

    /// <summary>A head failed to parse, timed out or was cut: keep its first line for <c>$request</c>.</summary>
    private void CaptureFailedHead(in ReadOnlySequence<byte> buffer)
    {
        if (_log.Active && !buffer.IsEmpty)
        {
            _log.CaptureRequestLine(buffer);
        }
    }

    /// <summary>
    /// Logs the request that just ended, if one started and was not logged yet. <paramref name="statusIfNone"/> is
    /// the status to log when no response was sent: 400 for a head the client cut off (nginx), 499 when the client
    /// left before the response (nginx's "client closed request").
    /// </summary>
    private void WriteAccessLog(int statusIfNone)
    {
        if (!_log.Active)
        {
            return;
        }
        try
        {
            WriteAccessLogLines(statusIfNone);
        }
        finally
        {
            _log.Finish();
        }
    }

    private void WriteAccessLogLines(int statusIfNone)
    {
        if (_log.Status == 0)
        {
            _log.Status = statusIfNone;
        }
        var snapshot = _snapshot;
        if (snapshot is null)
        {
            return;
        }
        // The location the request ended in decides (nginx logs with the final location's access_log); before a
        // location was chosen, the server's; before the head was read, the listen address's default server's.
        LocationRuntime? runtime = _context.LocationRuntime;
        if (runtime is null)
        {
            var settings = _log.HasServer && _context.Server is { } server ? server.Config.Settings : _listen?.DefaultServer.Settings;
            runtime = settings is null ? null : snapshot.GetLocation(settings);
        }
        var targets = runtime?.AccessLogs;
        if (targets is null || targets.Length == 0)
        {
            return;
        }
        var time = _services.AccessLogs.Time;
        long end = time.Timestamp();
        foreach (var target in targets)
        {
            var line = target.Writer.RentLine();
            if (line is null)
            {
                continue; // counted as dropped by the writer
            }
            target.Format.Format(line, _context, _log, time, end);
            target.Writer.Commit(line);
        }
    }

    /// <summary>Called from the exception path: never let logging fail a connection that is already failing.</summary>
    private void TryWriteAccessLog(int statusIfNone)
    {
        try
        {
            WriteAccessLog(statusIfNone);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Log.ConnectionError(_services.Logger, e);
        }
    }
}
