namespace FastProxy;
