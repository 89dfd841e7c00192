namespace FastProxy.Host;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0 && (args[0] == "-v" || args[0] == "-V" || args[0] == "--version"))
        {
            Console.WriteLine("fastproxy/" + typeof(Program).Assembly.GetName().Version!.ToString(3));
            return 0;
        }
        Console.Error.WriteLine("fastproxy: the engine is not built yet; -v prints the version.");
        return 1;
    }
}
