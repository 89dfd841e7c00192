using System.Runtime.InteropServices;

namespace FastProxy.Diagnostics;

/// <summary>
/// A log file opened for appending as nginx opens it (ngx_open_file: O_WRONLY|O_APPEND|O_CREAT, mode 0644): every
/// write lands at the end of the file whoever else writes to it, so two writers of one file (an old and a new
/// writer across a reload, two FastProxy processes) never overwrite each other, and a file truncated by a
/// copy-and-truncate rotation is written from its new end. .NET's FileMode.Append only seeks to the end once and then
/// writes at its own offset, so on Linux the file is opened through libc; elsewhere FileMode.Append is used (on
/// Windows it is a true append).
/// </summary>
internal sealed partial class AppendFile : IDisposable
{
    private const int O_WRONLY = 0x1;
    private const int O_CREAT = 0x40;
    private const int O_APPEND = 0x400;
    private const int O_CLOEXEC = 0x80000;
    private const int EINTR = 4;

    private readonly int _fd = -1;
    private readonly FileStream? _stream;

    private AppendFile(int fd, FileStream? stream)
    {
        _fd = fd;
        _stream = stream;
    }

    /// <summary>Opens (creating the file and its folder if needed); null with <paramref name="error"/> when it cannot.</summary>
    public static AppendFile? Open(string path, out string? error)
    {
        error = null;
        try
        {
            string? dir = Path.GetDirectoryName(path);
            if (!string.IsNullOrEmpty(dir) && !path.StartsWith("/dev/", StringComparison.Ordinal))
            {
                Directory.CreateDirectory(dir);
            }
            if (OperatingSystem.IsLinux())
            {
                int fd = OpenNative(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 420 /* 0644 */);
                if (fd < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    error = $"{errno}: {Marshal.GetPInvokeErrorMessage(errno)}";
                    return null;
                }
                return new AppendFile(fd, null);
            }
            var stream = new FileStream(path, path.StartsWith("/dev/", StringComparison.Ordinal) ? FileMode.Open : FileMode.Append,
                FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            return new AppendFile(-1, stream);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = ex.Message;
            return null;
        }
    }

    /// <summary>Writes all of <paramref name="data"/>; false (with the reason) when the system refused.</summary>
    public unsafe bool Write(ReadOnlySpan<byte> data, out string? error)
    {
        error = null;
        if (_stream is not null)
        {
            try
            {
                _stream.Write(data);
                return true;
            }
            catch (IOException ex)
            {
                error = ex.Message;
                return false;
            }
        }
        fixed (byte* start = data)
        {
            byte* p = start;
            nint left = data.Length;
            while (left > 0)
            {
                nint n = WriteNative(_fd, p, left);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                    {
                        continue;
                    }
                    error = $"{errno}: {Marshal.GetPInvokeErrorMessage(errno)}";
                    return false;
                }
                p += n;
                left -= n;
            }
        }
        return true;
    }

    public void Dispose()
    {
        if (_stream is not null)
        {
            _stream.Dispose();
        }
        else if (_fd >= 0)
        {
            CloseNative(_fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenNative(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint WriteNative(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int CloseNative(int fd);
}
